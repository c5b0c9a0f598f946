package ecs

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
)

// TestFromCodePipelineConfigIsValid parses the configuration in
// docs/FROM-CODEPIPELINE.md (its first yaml block) as if it were this
// directory's bakery.yaml, beside the scripts it runs, so the document
// cannot drift from what bakery accepts.
func TestFromCodePipelineConfigIsValid(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/FROM-CODEPIPELINE.md")
	require.NoError(t, err)
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	require.True(t, ok, "the document has a yaml block")
	block, _, ok := strings.Cut(rest, "```")
	require.True(t, ok)
	cfg, err := config.Parse("bakery.yaml", []byte(block))
	require.NoError(t, err)
	svc := cfg.Services[0]
	prod, _, ok := svc.Environment("production")
	require.True(t, ok)
	require.Equal(t, "1h0m0s", prod.Bake.String())
	require.NotNil(t, prod.Window, "the working-hours window")
	require.Equal(t, 400*24, int(cfg.Server.Retention.Events.Hours()))
}
