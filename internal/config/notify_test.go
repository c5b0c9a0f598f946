package config

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNotificationsValid(t *testing.T) {
	t.Parallel()
	src := withServices(
		"notifications:",
		"  - name: deploys",
		`    slack: {channel: "#deploys"}`,
		"    events: [lock, failure, pile_up]",
		"    services: [web]",
		"  - name: audit",
		"    webhook:",
		"      url: https://hooks.example.com/bakery",
		"      secret_env: BAKERY_WEBHOOK_SECRET",
		"slack:",
		"  bot_token_env: SLACK_BOT_TOKEN",
		"  signing_secret_env: SLACK_SIGNING_SECRET",
		"  users: {U024BE7LH: ana}",
	)
	cfg, err := Parse("bakery.yaml", []byte(src))
	require.NoError(t, err)
	require.Len(t, cfg.Notifications, 2)
	require.Equal(t, Notification{Name: "deploys", Slack: &SlackDestination{Channel: "#deploys"},
		Events: []string{"lock", "failure", "pile_up"}, Services: []string{"web"}}, cfg.Notifications[0])
	require.Equal(t, &WebhookDestination{URL: "https://hooks.example.com/bakery", SecretEnv: "BAKERY_WEBHOOK_SECRET"}, cfg.Notifications[1].Webhook)
	require.Equal(t, NotificationEvents, cfg.Notifications[1].Events, "no events listed: every kind")
	require.Equal(t, &Slack{APIURL: DefaultSlackAPIURL, BotTokenEnv: "SLACK_BOT_TOKEN", SigningSecretEnv: "SLACK_SIGNING_SECRET",
		Role: "deployer", Users: map[string]string{"U024BE7LH": "ana"}}, cfg.Slack)
}

func TestNotificationsProblems(t *testing.T) {
	t.Parallel()
	requireProblems(t, y(
		"notifications:",
		"  - name: deploys",
		`    slack: {channel: "#deploys"}`,
		"    events: [lock, deploy]",
		"    services: [web, nope]",
		"  - name: deploys",
		"    webhook: {url: ftp://x}",
		"  - name: both",
		"    webhook: {url: https://h.example.com, secret_env: S}",
		`    slack: {channel: "#x"}`,
		"  - name: none",
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		"        deploy:",
		`          command: ["./deploy.sh"]`,
	),
		want{3, 5, "notifications[0].slack", "needs the top-level slack block"},
		want{4, 20, "notifications[0].events", "unknown event \"deploy\"; the kinds are: promotion, failure, lock, unlock, rollback, emergency, canary, check, pile_up"},
		want{5, 21, "notifications[0].services", `unknown service "nope"; the file's services are: web`},
		want{6, 11, "notifications[1].name", `duplicate notification name "deploys"`},
		want{7, 14, "notifications[1].webhook.secret_env", "secret_env is required"},
		want{7, 20, "notifications[1].webhook.url", "absolute http(s) URL"},
		want{9, 5, "notifications[2].webhook", "one destination"},
		want{11, 5, "notifications[3]", "needs a destination"},
	)
	requireProblems(t, withServices(
		"slack:",
		"  api_url: nope",
		"  bot_token_env: xoxb-123",
		"  role: god",
		"  users: {ana: U1}",
	),
		want{2, 3, "slack.signing_secret_env", "signing_secret_env is required"},
		want{2, 12, "slack.api_url", "absolute http(s) URL"},
		want{3, 18, "slack.bot_token_env", "must name an environment variable"},
		want{4, 9, "slack.role", `unknown role "god"`},
		want{5, 11, "slack.users", "Slack user IDs"},
	)
}

func TestCheckSecrets(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("bakery.yaml", []byte(withServices(
		"notifications:",
		"  - name: audit",
		"    webhook: {url: https://h.example.com, secret_env: HOOK_SECRET}",
	)))
	require.NoError(t, err)
	good := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	for _, tc := range []struct{ value, msg string }{
		{"", "empty or unset"},
		{"s3cr3t-value", `does not start with "whsec_"`},
		{"whsec_!!notbase64!!", "not valid base64"},
		{"whsec_" + base64.StdEncoding.EncodeToString([]byte("short")), "at least 16"},
	} {
		err := cfg.CheckSecrets(func(string) string { return tc.value })
		require.ErrorContains(t, err, "HOOK_SECRET", "the variable is named")
		require.ErrorContains(t, err, tc.msg)
		if tc.value != "" {
			require.False(t, strings.Contains(err.Error(), tc.value), "the value is never printed")
		}
	}
	require.NoError(t, cfg.CheckSecrets(func(string) string { return good }))
}
