package api

import (
	"net/http"
	"time"

	"github.com/bakery-deploy/bakery/internal/store"
)

// MigrationsView is GET /api/v1/services/{service}/migrations.
type MigrationsView struct {
	Service string `json:"service"`
	// ReadAt is when the background reader read the oldest of these
	// tables (null: not read yet); Age says it for people ("read 12s
	// ago"). A request never reads them itself.
	ReadAt       *time.Time             `json:"read_at"`
	Age          string                 `json:"age"`
	Environments []MigrationEnvironment `json:"environments"`
	Drift        []DriftView            `json:"drift"`
}

// MigrationEnvironment is what one environment's database has applied.
type MigrationEnvironment struct {
	Name    string   `json:"name"`
	Tool    string   `json:"tool"`
	Applied []string `json:"applied"`
	// Latest: the tool records only the latest applied migration
	// (golang-migrate); every earlier one counts as applied.
	Latest bool   `json:"latest_only,omitempty"`
	Dirty  bool   `json:"dirty,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Error says, plainly, why the database could not be read. Credentials
	// never appear in it.
	Error string `json:"error,omitempty"`
	// ReadAt is when the background reader read the table; null: not yet.
	ReadAt *time.Time `json:"read_at"`
}

// DriftView is one problem between environments.
type DriftView struct {
	Kind        string     `json:"kind"`
	Migration   string     `json:"migration,omitempty"`
	Environment string     `json:"environment"`
	Other       string     `json:"other,omitempty"`
	Since       *time.Time `json:"since,omitempty"`
	Message     string     `json:"message"`
}

// MigrationsAge says how old a reading of migration tables is: "read 12s
// ago", or "not read yet".
func MigrationsAge(at, now time.Time) string {
	if at.IsZero() {
		return "not read yet"
	}
	return "read " + max(now.Sub(at), 0).Round(time.Second).String() + " ago"
}

func (s *Server) getMigrations(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	rep, err := s.e.CachedMigrations(r.PathValue("service"))
	if err != nil {
		return err
	}
	out := MigrationsView{Service: r.PathValue("service"), Environments: []MigrationEnvironment{}, Drift: []DriftView{},
		ReadAt: timePtr(rep.ReadAt()), Age: MigrationsAge(rep.ReadAt(), s.e.Now())}
	for i, env := range rep.Environments {
		me := MigrationEnvironment{Name: env.Name, Tool: rep.Tools[i], Applied: []string{}, Latest: env.State.Latest,
			Dirty: env.State.Dirty, Detail: env.State.Detail, ReadAt: timePtr(env.ReadAt)}
		for _, a := range env.State.Applied {
			me.Applied = append(me.Applied, a.ID)
		}
		if env.Err != nil {
			me.Error = env.Err.Error()
		}
		out.Environments = append(out.Environments, me)
	}
	for _, d := range rep.Drift {
		dv := DriftView{Kind: string(d.Kind), Migration: d.Migration, Environment: d.Environment, Other: d.Other, Message: d.Message}
		if d.Since != nil {
			dv.Since = timePtr(*d.Since)
		}
		out.Drift = append(out.Drift, dv)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
