package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/migrations"
)

// MigrationsReadInterval is how often the background reader reads the
// migration tables of every environment that has a migrations.database.
// Pages and the API show what it read last, with its age: a GET never
// connects to an application's database nor writes to bakery's.
var MigrationsReadInterval = 30 * time.Second

// ErrMigrationsNotRead is the state of an environment whose migration table
// the background reader has not read yet. It is shown as "cannot be read"
// (and as unreachable drift), never as "no drift".
var ErrMigrationsNotRead = errors.New("not read yet: bakery reads migration tables in the background, the first time within a few seconds of starting")

// migrationCache holds the last report read for each service.
type migrationCache struct {
	mu      sync.Mutex
	reports map[string]MigrationReport
	once    sync.Once
	kicks   chan string
}

// kicked is where services whose tables changed (a migration step ran)
// are announced to the background reader.
func (c *migrationCache) kicked() chan string {
	c.once.Do(func() { c.kicks = make(chan string, 64) })
	return c.kicks
}

// kick asks the background reader to read service's tables again soon. It
// never blocks: a full queue already holds a read to come.
func (c *migrationCache) kick(service string) {
	select {
	case c.kicked() <- service:
	default:
	}
}

func (c *migrationCache) put(service string, rep MigrationReport) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reports == nil {
		c.reports = map[string]MigrationReport{}
	}
	c.reports[service] = rep
}

func (c *migrationCache) get(service string) (MigrationReport, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rep, ok := c.reports[service]
	return rep, ok
}

// hasMigrationDatabase reports whether any environment of svc declares a
// database to read.
func hasMigrationDatabase(svc *config.Service) bool {
	for _, env := range svc.Environments {
		if env.Migrations != nil && env.Migrations.Database != nil {
			return true
		}
	}
	return false
}

// CachedMigrations is what the background reader last read of service's
// migration tables. Before its first read, every environment with a
// database is reported as not read yet (ErrMigrationsNotRead). It never
// connects to a database or writes to the store.
func (e *Engine) CachedMigrations(service string) (MigrationReport, error) {
	svc, err := e.Service(service)
	if err != nil {
		return MigrationReport{}, err
	}
	if rep, ok := e.migs.get(svc.Name); ok {
		return rep, nil
	}
	rep := MigrationReport{}
	var bakes []time.Duration
	for _, env := range svc.Environments {
		if env.Migrations == nil || env.Migrations.Database == nil {
			continue
		}
		rep.Environments = append(rep.Environments, migrations.Environment{Name: env.Name, Err: ErrMigrationsNotRead})
		rep.Tools = append(rep.Tools, env.Migrations.Database.Tool)
		bakes = append(bakes, env.Bake)
	}
	rep.Drift = migrations.Compare(rep.Environments, bakes, e.clock.Now())
	return rep, nil
}

// RefreshMigrations reads service's migration tables now (Migrations) and
// keeps the report for CachedMigrations. The background reader calls it
// every MigrationsReadInterval, and a migration step after it ran.
func (e *Engine) RefreshMigrations(ctx context.Context, service string) (MigrationReport, error) {
	rep, err := e.Migrations(ctx, service)
	if err != nil {
		return rep, err
	}
	e.migs.put(service, rep)
	return rep, nil
}

// ReadAt is when the report's oldest reading was made; zero if none was.
func (r MigrationReport) ReadAt() time.Time {
	var t time.Time
	for _, me := range r.Environments {
		if !me.ReadAt.IsZero() && (t.IsZero() || me.ReadAt.Before(t)) {
			t = me.ReadAt
		}
	}
	return t
}

// migrationReader reads, now and then every MigrationsReadInterval, the
// migration tables of every service that has a migrations.database, and a
// service's again after each of its migration steps, until ctx ends.
func (e *Engine) migrationReader(ctx context.Context) {
	t := time.NewTicker(MigrationsReadInterval)
	defer t.Stop()
	refresh := func(service string) {
		if _, err := e.RefreshMigrations(ctx, service); err != nil && ctx.Err() == nil {
			e.log.Warn("error reading migrations", slog.String("service", service), slog.Any("error", err))
		}
	}
	for {
		for _, svc := range e.Config().Services {
			if hasMigrationDatabase(&svc) {
				refresh(svc.Name)
			}
		}
		for due := false; !due; {
			select {
			case <-ctx.Done():
				return
			case service := <-e.migs.kicked():
				refresh(service)
			case <-t.C:
				due = true
			}
		}
	}
}
