package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetentionDefaultKeepsEverything(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("bakery.yaml", []byte(y(minimalServices...)))
	require.NoError(t, err)
	require.Equal(t, Retention{}, cfg.Server.Retention, "nothing is deleted unless configured")
}

func TestRetention(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("bakery.yaml", []byte(withServices("server:", "  retention: {events: 400d, deployment_output: 720h}")))
	require.NoError(t, err)
	require.Equal(t, Retention{Events: 400 * 24 * time.Hour, DeploymentOutput: 30 * 24 * time.Hour}, cfg.Server.Retention)

	cfg, err = Parse("bakery.yaml", []byte(withServices("server:", "  retention:", "    deployment_output: 30d")))
	require.NoError(t, err)
	require.Equal(t, Retention{DeploymentOutput: 30 * 24 * time.Hour}, cfg.Server.Retention, "events kept for ever")
}

func TestRetentionProblems(t *testing.T) {
	t.Parallel()
	requireProblems(t, withServices("server:", "  retention:", "    events: 30s", "    deployment_output: forever", "    jobs: 7d"),
		want{3, 13, "server.retention.events", "events must be at least 1d"},
		want{4, 24, "server.retention.deployment_output", `invalid duration "forever"`},
		want{5, 5, "server.retention.jobs", `unknown field "jobs"; known fields are: events, deployment_output`},
	)
	requireProblems(t, withServices("server:", "  retention: 400d"),
		want{2, 14, "server.retention", "server.retention must be a mapping with the fields events, deployment_output"})
	requireProblems(t, withServices("server:", "  retention:", "    events: -5d"),
		want{3, 13, "server.retention.events", "at least 1d"})
}
