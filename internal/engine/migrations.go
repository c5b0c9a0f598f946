package engine

import (
	"bufio"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/migrations"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/secret"
	"github.com/bakery-deploy/bakery/internal/store"
)

// EventMigrationsVerified records a migration step that passed.
const EventMigrationsVerified = "migrations.verified"

var migrationIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,256}$`)

// validateMigrationIDs checks the migration IDs a release declares.
func validateMigrationIDs(ids []string) error {
	for _, id := range ids {
		if !migrationIDRE.MatchString(id) {
			return fmt.Errorf("%w: migration ID %q must be 1-256 characters from A-Z a-z 0-9 . _ - (the version or name the migration tool records)", ErrInvalid, id)
		}
	}
	return nil
}

func migrationSource(db *config.MigrationDatabase) (migrations.Source, error) {
	url := secret.Getenv(db.URLEnv)
	if url == "" {
		return migrations.Source{}, fmt.Errorf("environment variable %s (migrations.database.url_env) is not set on the bakery server, so the applied migrations cannot be read", db.URLEnv)
	}
	return migrations.Source{Driver: db.Driver, URL: url, Tool: migrations.Tool(db.Tool), Table: db.Table, Column: db.Column,
		AppliedColumn: db.AppliedColumn}, nil
}

// migrationRequest is the request of the migration commands (apply,
// expected): the deployment's, plus the variable named by
// migrations.database.url_env, which they need to reach the environment's
// database and which the deploy command does not get.
func migrationRequest(req deploy.Request, m *config.Migrations) deploy.Request {
	if m.Database != nil && m.Database.URLEnv != "" && !slices.Contains(req.InheritEnv, m.Database.URLEnv) {
		req.InheritEnv = append(slices.Clone(req.InheritEnv), m.Database.URLEnv)
	}
	// Read from URL_ENV_FILE, the value is not in bakery's environment to
	// inherit: the commands get it explicitly.
	if m.Database != nil && secret.FromFile(m.Database.URLEnv) {
		env := make(map[string]string, len(req.Env)+1)
		for k, v := range req.Env {
			env[k] = v
		}
		env[m.Database.URLEnv] = secret.Getenv(m.Database.URLEnv)
		req.Env = env
	}
	return req
}

// migrate is the migration step of a deployment (rule 12): it runs the
// environment's apply command, then reads the environment's migration table
// and lets the deploy go on only if every migration the release needs is
// applied there. It runs inside the deployment's heartbeat, before the
// deploy command.
func (e *Engine) migrate(ctx context.Context, dep pipeline.Deployment, rel pipeline.Release, req deploy.Request, tail *deploy.Tail) error {
	svc, ok := e.Config().Service(dep.Service)
	if !ok {
		return nil
	}
	env, _, ok := svc.Environment(dep.Environment)
	if !ok || env.Migrations == nil {
		return nil
	}
	m := env.Migrations
	start := time.Now()
	req = migrationRequest(req, m)
	if len(m.Apply) > 0 {
		fmt.Fprintf(tail, "[bakery] applying migrations in %s: %s\n", dep.Environment, strings.Join(m.Apply, " "))
		step := req
		step.Command = m.Apply
		if err := e.opts.Deployer.Deploy(ctx, step, tail); err != nil {
			return fmt.Errorf("migration command failed in %s, so the code was not deployed: %w", dep.Environment, err)
		}
	}
	wanted, err := e.store.ReleaseMigrations(ctx, rel.ID)
	if err != nil {
		return err
	}
	if len(m.Expected) > 0 {
		list := deploy.NewTail(256 << 10)
		step := req
		step.Command = m.Expected
		if err := e.opts.Deployer.Deploy(ctx, step, list); err != nil {
			return fmt.Errorf("migrations.expected command failed in %s: %w", dep.Environment, err)
		}
		sc := bufio.NewScanner(strings.NewReader(list.String()))
		for sc.Scan() {
			if id := strings.TrimSpace(sc.Text()); id != "" && !strings.HasPrefix(id, "#") {
				wanted = append(wanted, id)
			}
		}
		if err := validateMigrationIDs(wanted); err != nil {
			return fmt.Errorf("migrations.expected printed a bad ID: %w", err)
		}
	}
	if m.Database == nil {
		if len(wanted) > 0 {
			fmt.Fprintf(tail, "[bakery] %s declares %d migration(s) but %s has no migrations.database to verify them against\n",
				rel.Version, len(wanted), dep.Environment)
		}
		return nil
	}
	src, err := migrationSource(m.Database)
	if err != nil {
		return err
	}
	st, err := migrations.Read(ctx, src)
	if err != nil {
		err = e.migrationErrorForViewers(src, err, "service", dep.Service, "environment", dep.Environment, "deployment", dep.ID)
		return fmt.Errorf("cannot verify migrations in %s, so the code was not deployed: %w", dep.Environment, err)
	}
	if err := e.recordSeen(ctx, dep.Service, dep.Environment, st); err != nil {
		return err
	}
	e.migs.kick(dep.Service)
	if missing := migrations.MissingIDs(st, wanted); len(missing) > 0 {
		return fmt.Errorf("migrations not applied in %s after the migration step: %s; the code was not deployed", dep.Environment, strings.Join(missing, ", "))
	}
	took := time.Since(start).Round(time.Millisecond)
	fmt.Fprintf(tail, "[bakery] migrations verified in %s: %d needed, all applied (%s)\n", dep.Environment, len(wanted), took)
	return e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.EventInsert(ctx, &pipeline.Event{At: e.clock.Now(), Type: EventMigrationsVerified, Service: dep.Service,
			Environment: dep.Environment, Version: rel.Version, Actor: pipeline.ActorSystem, DeploymentID: dep.ID,
			Reason: fmt.Sprintf("%d migration(s) needed, all applied", len(wanted)),
			Data:   map[string]any{"needed": wanted, "took_ms": took.Milliseconds()}})
		return err
	})
}

func (e *Engine) recordSeen(ctx context.Context, service, env string, st migrations.State) error {
	ids := make([]string, 0, len(st.Applied))
	for _, a := range st.Applied {
		ids = append(ids, a.ID)
	}
	return e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.MigrationsSeenRecord(ctx, service, env, ids, e.clock.Now())
	})
}

// MigrationReport is what `bakery migrations` shows: each environment's
// applied migrations and the drift between them.
type MigrationReport struct {
	Environments []migrations.Environment
	Tools        []string // per environment; "" when it has no migrations.database
	Drift        []migrations.Drift
}

// Migrations reads every environment's migration table (in parallel) and
// compares them. An unreadable database is reported as such, never as "no
// drift".
func (e *Engine) Migrations(ctx context.Context, service string) (MigrationReport, error) {
	svc, err := e.Service(service)
	if err != nil {
		return MigrationReport{}, err
	}
	rep := MigrationReport{Environments: make([]migrations.Environment, len(svc.Environments)), Tools: make([]string, len(svc.Environments))}
	bakes := make([]time.Duration, len(svc.Environments))
	var wg sync.WaitGroup
	for i, env := range svc.Environments {
		bakes[i] = env.Bake
		rep.Environments[i] = migrations.Environment{Name: env.Name}
		if env.Migrations == nil || env.Migrations.Database == nil {
			continue
		}
		rep.Tools[i] = env.Migrations.Database.Tool
		wg.Add(1)
		go func(i int, db *config.MigrationDatabase) {
			defer wg.Done()
			me := &rep.Environments[i]
			src, err := migrationSource(db)
			if err == nil {
				me.State, err = migrations.Read(ctx, src)
				err = e.migrationErrorForViewers(src, err, "service", svc.Name, "environment", me.Name)
			}
			me.Err, me.ReadAt = err, e.clock.Now()
		}(i, env.Migrations.Database)
	}
	wg.Wait()
	for i, me := range rep.Environments {
		if me.Err == nil && rep.Tools[i] != "" {
			if err := e.recordSeen(ctx, svc.Name, me.Name, me.State); err != nil {
				return rep, err
			}
		}
	}
	seen, err := e.store.MigrationsSeen(ctx, svc.Name)
	if err != nil {
		return rep, err
	}
	var kept []migrations.Environment
	var keptBakes []time.Duration
	var keptTools []string
	for i, me := range rep.Environments {
		if rep.Tools[i] == "" {
			continue
		}
		me.FirstSeen = seen[me.Name]
		kept, keptBakes, keptTools = append(kept, me), append(keptBakes, bakes[i]), append(keptTools, rep.Tools[i])
	}
	rep.Environments, rep.Tools = kept, keptTools
	rep.Drift = migrations.Compare(kept, keptBakes, e.clock.Now())
	return rep, nil
}
