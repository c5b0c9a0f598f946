// Package manyservices holds the test of the many-services example: a
// configuration split across files with defaults, where and templates.
package manyservices

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
)

// TestExampleIsValid: the example loads, and its services are merged as
// its comments say.
func TestExampleIsValid(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("bakery.yaml")
	require.NoError(t, err)
	require.Len(t, cfg.Files, 3)
	byName := map[string]*config.Service{}
	for i := range cfg.Services {
		byName[cfg.Services[i].Name] = &cfg.Services[i]
	}
	require.Len(t, byName, 5)

	checkout := byName["checkout"]
	var names []string
	for _, e := range checkout.Environments {
		names = append(names, e.Name)
	}
	require.Equal(t, []string{"staging", "qa", "production"}, names)
	prod, _, _ := checkout.Environment("production")
	require.Equal(t, 4*time.Hour, prod.Bake)
	require.NotNil(t, prod.Window, "tier=1 gets the where entry's window")
	require.Len(t, prod.Checks, 1)

	ledger, _, _ := byName["ledger"].Environment("production")
	require.Equal(t, 24*time.Hour, ledger.Bake)

	invoices, _, _ := byName["invoices"].Environment("production")
	require.Nil(t, invoices.Window, "tier=2 gets no window")
	require.Equal(t, time.Hour, invoices.Bake)

	indexer := byName["indexer"].Environments[0]
	require.Len(t, indexer.Deploy.Command, 3, "the service's command replaces the defaults' whole")
	require.Equal(t, map[string]string{"owner": "platform", "team": "search", "tier": "2"}, byName["indexer"].Labels)
}

// TestExampleShow: config show prints the example's checkout with the
// layers in order.
func TestExampleShow(t *testing.T) {
	t.Parallel()
	s, err := config.Show("bakery.yaml", "checkout")
	require.NoError(t, err)
	require.Equal(t, []string{"defaults", "where tier=1", "template web", "template stateful", "service"}, s.Layers)
	require.Contains(t, s.YAML, "bake: 4h # services/templates.yaml:6 (template stateful)")
}
