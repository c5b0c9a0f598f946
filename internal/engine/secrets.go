package engine

import (
	"context"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/secret"
	"github.com/bakery-deploy/bakery/internal/store"
)

// secretEnvNames are the variables of bakery's environment that the
// configuration names as holding secrets: server.mask_env, every
// migrations.database.url_env, every Datadog check's keys (bake checks
// and canary analysis checks), every webhook's secret_env and the slack
// block's bot token and signing secret.
func secretEnvNames(cfg *config.Config) []string {
	if cfg == nil {
		return nil
	}
	names := append([]string(nil), cfg.Server.MaskEnv...)
	if g := cfg.GitHub; g != nil {
		names = append(names, g.WebhookSecretEnv, g.TokenEnv)
	}
	addChecks := func(specs []check.Spec) {
		for _, s := range specs {
			if s.Datadog != nil {
				names = append(names, s.Datadog.APIKeyEnv, s.Datadog.AppKeyEnv)
			}
		}
	}
	for _, d := range cfg.Notifications {
		if d.Webhook != nil {
			names = append(names, d.Webhook.SecretEnv)
		}
	}
	if cfg.Slack != nil {
		names = append(names, cfg.Slack.BotTokenEnv, cfg.Slack.SigningSecretEnv)
	}
	for _, svc := range cfg.Services {
		for _, env := range svc.Environments {
			if env.Migrations != nil && env.Migrations.Database != nil {
				names = append(names, env.Migrations.Database.URLEnv)
			}
			addChecks(env.Checks)
			if env.Canary != nil {
				addChecks(env.Canary.Analysis.Checks)
			}
		}
	}
	return names
}

// updateSecrets makes the masker mask what cfg names as secret (read from
// bakery's environment now), the server's own database URL, and the values
// given in Options.Secrets.
func (e *Engine) updateSecrets(cfg *config.Config) {
	values := append([]string(nil), e.opts.Secrets...)
	for _, name := range secretEnvNames(cfg) {
		if v := secret.Getenv(name); v != "" {
			values = append(values, v)
		}
	}
	if cfg != nil {
		values = append(values, cfg.Server.Database) // a postgres:// URL's password is masked too
	}
	e.masker.Set(values)
}

// Masker is what the engine masks in stored output and events.
func (e *Engine) Masker() *secret.Masker { return e.masker }

// maskingStore masks known secret values in everything written to the
// event log, deployments, check results, canaries and judgements, whoever
// writes it: commands' output, error messages, reasons a person typed. It
// is the one place every such write passes through.
type maskingStore struct {
	store.Store
	m *secret.Masker
}

func (s maskingStore) InTx(ctx context.Context, fn func(ctx context.Context, tx store.Tx) error) error {
	return s.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return fn(ctx, maskingTx{Tx: tx, m: s.m})
	})
}

type maskingTx struct {
	store.Tx
	m *secret.Masker
}

func (t maskingTx) maskPtr(p *string) *string {
	if p == nil {
		return nil
	}
	v := t.m.Mask(*p)
	return &v
}

func (t maskingTx) EventInsert(ctx context.Context, ev *pipeline.Event) (pipeline.Event, error) {
	c := *ev
	c.Reason = t.m.Mask(c.Reason)
	if c.Data != nil {
		c.Data = t.m.MaskAny(c.Data).(map[string]any)
	}
	return t.Tx.EventInsert(ctx, &c)
}

func (t maskingTx) DeploymentUpdate(ctx context.Context, p *store.DeploymentUpdateParams) (pipeline.Deployment, error) {
	c := *p
	c.Error, c.Output = t.maskPtr(c.Error), t.maskPtr(c.Output)
	return t.Tx.DeploymentUpdate(ctx, &c)
}

func (t maskingTx) CheckResultInsert(ctx context.Context, service string, r *pipeline.CheckResult) error {
	c := *r
	c.Reason = t.m.Mask(c.Reason)
	return t.Tx.CheckResultInsert(ctx, service, &c)
}

func (t maskingTx) CanaryUpdate(ctx context.Context, p *store.CanaryUpdateParams) (pipeline.Canary, error) {
	c := *p
	c.Reason = t.maskPtr(c.Reason)
	return t.Tx.CanaryUpdate(ctx, &c)
}

func (t maskingTx) JudgementInsert(ctx context.Context, j *pipeline.Judgement) (pipeline.Judgement, error) {
	c := *j
	c.Reason = t.m.Mask(c.Reason)
	if c.Detail != nil {
		c.Detail = []byte(t.m.Mask(string(c.Detail)))
	}
	return t.Tx.JudgementInsert(ctx, &c)
}
