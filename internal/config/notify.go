package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Notification is one destination bakery tells what it did
// (notifications[]): a Slack channel of the workspace in the slack block, or
// a signed webhook. Exactly one of Slack and Webhook is set.
type Notification struct {
	// Name identifies the destination on the record (deliveries); unique.
	Name string
	// Slack posts to a channel of the workspace configured in Config.Slack.
	Slack *SlackDestination
	// Webhook posts signed JSON (Standard Webhooks) to a URL.
	Webhook *WebhookDestination
	// Events are the kinds of event sent (NotificationEvents); every
	// kind when the file lists none.
	Events []string
	// Services limits the destination to these services; nil: all.
	Services []string
}

// SlackDestination is a Slack channel.
type SlackDestination struct {
	// Channel is a channel name ("#deploys") or ID ("C024BE91L").
	Channel string
}

// WebhookDestination is a URL that gets signed events.
type WebhookDestination struct {
	// URL is an absolute http(s) URL.
	URL string
	// SecretEnv names the variable of bakery's environment that holds the
	// signing secret, "whsec_" + base64 (checked when the server starts,
	// see CheckSecrets; the secret itself never goes in this file).
	SecretEnv string
}

// Slack is the Slack workspace bakery talks to (the slack block): its Web
// API for messages, and the slash command and buttons it answers.
type Slack struct {
	// APIURL is the Web API's base URL (default DefaultSlackAPIURL).
	APIURL string
	// BotTokenEnv names the variable holding the bot token (xoxb-...).
	BotTokenEnv string
	// SigningSecretEnv names the variable holding the app's signing
	// secret, which verifies commands and button presses.
	SigningSecretEnv string
	// Role is what a Slack user may do: viewer, deployer or admin
	// (default deployer).
	Role string
	// Users maps Slack user IDs (U…) to the names on the record; a user
	// not listed acts as "slack:U…".
	Users map[string]string
}

// DefaultSlackAPIURL is Slack's Web API.
const DefaultSlackAPIURL = "https://slack.com/api"

// NotificationEvents are the kinds of event a destination may ask for.
var NotificationEvents = []string{"promotion", "failure", "lock", "unlock", "rollback", "emergency", "canary", "check", "pile_up", "bisect"}

var (
	notificationFields = []string{"name", "slack", "webhook", "events", "services"}
	slackDestFields    = []string{"channel"}
	webhookFields      = []string{"url", "secret_env"}
	slackFields        = []string{"api_url", "bot_token_env", "signing_secret_env", "role", "users"}
	slackUserRE        = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	slackChannelRE     = regexp.MustCompile(`^(#[a-z0-9][a-z0-9_-]{0,79}|[CGD][A-Z0-9]{2,})$`)
)

// notifications walks the notifications list. slack is the slack block
// (nil when there is none): a Slack destination needs it.
func (p *parser) notifications(n *yaml.Node, slack *Slack, services []Service) []Notification {
	if n.Kind != yaml.SequenceNode {
		p.add(n, "notifications", `notifications must be a list whose entries start with "- name: ..."; got %s`, describe(n))
		return nil
	}
	var out []Notification
	seen := map[string]firstUse{}
	for i, item := range n.Content {
		path := fmt.Sprintf("notifications[%d]", i)
		it := p.resolve(item)
		if isNull(it) {
			it = nil
		}
		f, ok := p.mapping(it, item, path, "a notification", notificationFields)
		if !ok {
			continue
		}
		var d Notification
		var nameNode *yaml.Node
		d.Name, nameNode = p.checkName(f, "notification", "deploys")
		if nameNode != nil {
			if first, dup := seen[d.Name]; dup {
				p.add(nameNode, f.field("name"), "duplicate notification name %q: %s at line %d already uses it; give each destination its own name", d.Name, first.field, first.line)
			} else {
				seen[d.Name] = firstUse{field: path, line: nameNode.Line}
			}
		}
		sv, wv := f.get("slack"), f.get("webhook")
		switch {
		case sv == nil && wv == nil:
			p.add(f.node, path, `a notification needs a destination: slack: {channel: "#deploys"} or webhook: {url: https://..., secret_env: NAME}`)
		case sv != nil && wv != nil:
			p.add(f.at("webhook"), f.field("webhook"), "a notification has one destination, slack or webhook; split it into two entries")
		case sv != nil:
			d.Slack = p.slackDest(sv, f.at("slack"), f.field("slack"))
			if slack == nil {
				p.add(f.at("slack"), f.field("slack"), "a Slack destination needs the top-level slack block (bot_token_env, signing_secret_env) that says which workspace to post to; add it")
			}
		default:
			d.Webhook = p.webhookDest(wv, f.at("webhook"), f.field("webhook"))
		}
		if v := f.get("events"); v != nil {
			d.Events = p.eventNames(v, f.field("events"))
		}
		if len(d.Events) == 0 {
			d.Events = slices.Clone(NotificationEvents)
		}
		if v := f.get("services"); v != nil {
			d.Services = p.nameList(v, f.field("services"), "web", services)
		}
		out = append(out, d)
	}
	return out
}

func (p *parser) slackDest(n, at *yaml.Node, path string) *SlackDestination {
	f, ok := p.mapping(n, at, path, "slack", slackDestFields)
	if !ok {
		return nil
	}
	d := &SlackDestination{}
	v := f.get("channel")
	if v == nil {
		p.add(f.at("channel"), f.field("channel"), `channel is required: a channel name such as "#deploys" (quote it: # starts a YAML comment) or its ID such as C024BE91L`)
		return d
	}
	if s, ok := p.scalar(v, f.field("channel"), `"#deploys"`); ok {
		if !slackChannelRE.MatchString(s) {
			p.add(v, f.field("channel"), `invalid channel %q: write a channel name such as "#deploys" (lowercase, quoted) or its ID such as C024BE91L`, s)
		}
		d.Channel = s
	}
	return d
}

func (p *parser) webhookDest(n, at *yaml.Node, path string) *WebhookDestination {
	f, ok := p.mapping(n, at, path, "webhook", webhookFields)
	if !ok {
		return nil
	}
	d := &WebhookDestination{}
	if v := f.get("url"); v == nil {
		p.add(f.at("url"), f.field("url"), "url is required: where the signed events are posted, e.g. https://hooks.example.com/bakery")
	} else if s, ok := p.scalar(v, f.field("url"), "https://hooks.example.com/bakery"); ok {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add(v, f.field("url"), "url must be an absolute http(s) URL such as https://hooks.example.com/bakery; got %q", s)
		}
		d.URL = s
	}
	d.SecretEnv = p.secretEnv(f, "secret_env", "BAKERY_WEBHOOK_SECRET", "the webhook's signing secret (\"whsec_\" + base64)")
	return d
}

// secretEnv reads a required field naming an environment variable.
func (p *parser) secretEnv(f fields, key, example, what string) string {
	v := f.get(key)
	if v == nil {
		p.add(f.at(key), f.field(key), "%s is required: the name of the environment variable that holds %s (the secret itself never goes in this file), e.g. %s: %s", key, what, key, example)
		return ""
	}
	s, ok := p.scalar(v, f.field(key), example)
	if !ok {
		return ""
	}
	if !envKeyRE.MatchString(s) {
		p.add(v, f.field(key), "%s must name an environment variable, such as %s (the secret itself never goes in this file)", key, example)
		return ""
	}
	return s
}

// eventNames walks a list of NotificationEvents.
func (p *parser) eventNames(n *yaml.Node, field string) []string {
	if n.Kind != yaml.SequenceNode {
		p.add(n, field, "events must be a list such as [lock, failure]; the kinds are: %s", strings.Join(NotificationEvents, ", "))
		return nil
	}
	var out []string
	for _, item := range n.Content {
		item = p.resolve(item)
		if item == nil || item.Kind != yaml.ScalarNode {
			p.add(item, field, "expected an event kind; got %s; the kinds are: %s", describe(item), strings.Join(NotificationEvents, ", "))
			continue
		}
		if !slices.Contains(NotificationEvents, item.Value) {
			p.add(item, field, "unknown event %q; the kinds are: %s", item.Value, strings.Join(NotificationEvents, ", "))
			continue
		}
		if slices.Contains(out, item.Value) {
			p.add(item, field, "%s is listed twice; remove one", item.Value)
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

// nameList walks a list of service names.
func (p *parser) nameList(n *yaml.Node, field, example string, services []Service) []string {
	if n.Kind != yaml.SequenceNode {
		p.add(n, field, "expected a list of names such as [%s]; got %s", example, describe(n))
		return nil
	}
	var out []string
	for _, item := range n.Content {
		item = p.resolve(item)
		if item == nil || item.Kind != yaml.ScalarNode || !nameRE.MatchString(item.Value) {
			p.add(item, field, "expected a service name such as %s; got %s", example, describe(item))
			continue
		}
		if !slices.ContainsFunc(services, func(s Service) bool { return s.Name == item.Value }) {
			names := make([]string, len(services))
			for i, s := range services {
				names[i] = s.Name
			}
			p.add(item, field, "unknown service %q; the file's services are: %s", item.Value, strings.Join(names, ", "))
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

// slack walks the slack block.
func (p *parser) slack(n, at *yaml.Node) *Slack {
	f, ok := p.mapping(n, at, "slack", "slack", slackFields)
	if !ok {
		return nil
	}
	s := &Slack{APIURL: DefaultSlackAPIURL, Role: "deployer"}
	if v := f.get("api_url"); v != nil {
		if raw, ok := p.scalar(v, f.field("api_url"), DefaultSlackAPIURL); ok {
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.add(v, f.field("api_url"), "api_url must be an absolute http(s) URL, %s unless a test points it elsewhere; got %q", DefaultSlackAPIURL, raw)
			}
			s.APIURL = strings.TrimRight(raw, "/")
		}
	}
	s.BotTokenEnv = p.secretEnv(f, "bot_token_env", "SLACK_BOT_TOKEN", "the Slack app's bot token (xoxb-...)")
	s.SigningSecretEnv = p.secretEnv(f, "signing_secret_env", "SLACK_SIGNING_SECRET", "the Slack app's signing secret")
	if v := f.get("role"); v != nil {
		if r, ok := p.scalar(v, f.field("role"), "deployer"); ok {
			if r != "viewer" && r != "deployer" && r != "admin" {
				p.add(v, f.field("role"), "unknown role %q: use viewer, deployer or admin (what a Slack user may do)", r)
			}
			s.Role = r
		}
	}
	if v := f.get("users"); v != nil {
		s.Users = p.slackUsers(v, f.field("users"))
	}
	return s
}

func (p *parser) slackUsers(n *yaml.Node, field string) map[string]string {
	if n.Kind != yaml.MappingNode {
		p.add(n, field, "users must map Slack user IDs to names, such as {U024BE7LH: ana}; got %s", describe(n))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.resolve(n.Content[i]), p.resolve(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode || !slackUserRE.MatchString(k.Value) {
			p.add(k, field, "users keys are Slack user IDs such as U024BE7LH (in Slack: the profile's ⋮ menu, Copy member ID); got %s", describe(k))
			continue
		}
		if v == nil || v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" || len(v.Value) > 100 {
			p.add(v, join(field, k.Value), "expected the name on the record for %s, such as ana; got %s", k.Value, describe(v))
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.add(k, join(field, k.Value), "%s is listed twice; remove one", k.Value)
			continue
		}
		out[k.Value] = v.Value
	}
	return out
}

// CheckSecrets reads the secrets the notifications and slack blocks name
// from getenv and reports the first that is missing or malformed, naming
// the variable and never its value. bakery serve calls it at start.
func (c *Config) CheckSecrets(getenv func(string) string) error {
	for _, d := range c.Notifications {
		if d.Webhook == nil {
			continue
		}
		if _, err := WebhookKey(getenv(d.Webhook.SecretEnv)); err != nil {
			return fmt.Errorf("notifications %s: %s: %w", d.Name, d.Webhook.SecretEnv, err)
		}
	}
	if c.Slack != nil {
		for _, name := range []string{c.Slack.BotTokenEnv, c.Slack.SigningSecretEnv} {
			if getenv(name) == "" {
				return fmt.Errorf("slack: the environment variable %s is empty or unset; set it to the Slack app's secret (Basic Information / OAuth & Permissions) before starting", name)
			}
		}
	}
	return nil
}

// WebhookKey decodes a Standard Webhooks secret: "whsec_" + base64 of the
// HMAC key. Errors never repeat the value.
func WebhookKey(secret string) ([]byte, error) {
	if secret == "" {
		return nil, fmt.Errorf("empty or unset: set it to the webhook's signing secret, \"whsec_\" + base64 of 24 to 64 random bytes (e.g. echo whsec_$(openssl rand -base64 32))")
	}
	b64, ok := strings.CutPrefix(secret, "whsec_")
	if !ok {
		return nil, fmt.Errorf("the value does not start with \"whsec_\": a Standard Webhooks secret is \"whsec_\" + base64 (e.g. echo whsec_$(openssl rand -base64 32))")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("the value after \"whsec_\" is not valid base64; make one with echo whsec_$(openssl rand -base64 32)")
	}
	if len(key) < 16 {
		return nil, fmt.Errorf("the key is %d bytes; use at least 16 random bytes (e.g. echo whsec_$(openssl rand -base64 32))", len(key))
	}
	return key, nil
}
