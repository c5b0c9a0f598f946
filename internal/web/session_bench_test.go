package web

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
)

// BenchmarkSessionVerify measures what the session cache saves: a look-up
// of the session and its token in SQLite against a cached session. The
// figures are in docs/PERFORMANCE.md.
func BenchmarkSessionVerify(b *testing.B) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := engine.New(engine.Options{Config: testConfig(), Logger: log})
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "bakery.db"), sqlstore.Options{Workers: e.Workers(), Logger: log})
	require.NoError(b, err)
	require.NoError(b, e.Start(ctx, st))
	defer func() {
		e.Stop(ctx)
		_ = st.Close(ctx)
	}()
	tok, err := e.CreateToken(ctx, "test", engine.TokenParams{Name: "ana", Role: "viewer", Hash: "h"})
	require.NoError(b, err)
	value := NewSessionSecret()
	now := time.Now()
	_, err = e.SessionStart(ctx, store.SessionInsertParams{Hash: HashSession(value), TokenID: tok.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
	require.NoError(b, err)

	b.Run("store", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := VerifySession(ctx, st, value, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		var c sessionCache
		for i := 0; i < b.N; i++ {
			if _, _, err := c.verify(ctx, st, value, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
