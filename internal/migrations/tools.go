package migrations

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"
)

// reader reads one tool's table inside a read-only transaction.
type reader struct {
	ctx    context.Context
	tx     *sql.Tx
	c      *conn
	src    Source
	table  string // as configured, for messages
	qtable string // validated and quoted
}

func (r reader) read() (State, error) {
	switch r.src.Tool {
	case GolangMigrate:
		return r.golangMigrate()
	case Goose:
		return r.goose()
	case Rails:
		return r.rails()
	case Flyway:
		return r.flyway()
	case Prisma:
		return r.prisma()
	default:
		return r.custom()
	}
}

// query runs a SELECT and scans each row into len(cols) values of any.
func (r reader) query(q string, ncols int, each func(vals []any) error) error {
	rows, err := r.tx.QueryContext(r.ctx, q)
	if err != nil {
		return r.c.queryFail(r.ctx, r.src, r.table, err)
	}
	defer rows.Close()
	vals := make([]any, ncols)
	ptrs := make([]any, ncols)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		for i := range vals {
			vals[i] = nil
		}
		if err := rows.Scan(ptrs...); err != nil {
			return r.c.queryFail(r.ctx, r.src, r.table, err)
		}
		if err := each(vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return r.c.queryFail(r.ctx, r.src, r.table, err)
	}
	return nil
}

func (r reader) unexpected(format string, args ...any) error {
	return r.c.fail(ErrUnreadable, "the %s table %s in %s: %s", r.src.Tool, r.table, r.c.where, fmt.Sprintf(format, args...))
}

// golangMigrate reads schema_migrations (version, dirty). golang-migrate
// keeps a single row, the current version; it records neither the earlier
// versions nor any time, so the State has Latest set. A dirty version
// failed part-way and counts as not applied. An empty table means nothing
// is applied; so does version -1 (its "nil version").
func (r reader) golangMigrate() (State, error) {
	type row struct {
		version string
		dirty   bool
	}
	var rows []row
	err := r.query("SELECT version, dirty FROM "+r.qtable, 2, func(v []any) error {
		rows = append(rows, row{version: idString(v[0]), dirty: truthy(v[1])})
		return nil
	})
	if err != nil {
		return State{}, err
	}
	st := State{Latest: true}
	switch len(rows) {
	case 0:
		st.Detail = "golang-migrate has not applied any migration here (schema_migrations is empty)"
		return st, nil
	case 1:
	default:
		return State{}, r.unexpected("it holds %d rows, but golang-migrate keeps exactly one (is it a rails table? then set the tool to rails)", len(rows))
	}
	v := rows[0]
	if strings.HasPrefix(v.version, "-") { // -1: no version
		st.Dirty = v.dirty
		if v.dirty {
			st.Detail = "dirty with no version: the first migration failed part-way; fix the database by hand, then run migrate force"
		}
		return st, nil
	}
	st.Applied = []Applied{{ID: v.version}}
	if v.dirty {
		st.Dirty = true
		st.Detail = fmt.Sprintf("dirty at version %s: the migration failed part-way and counts as not applied; fix the database by hand, then run migrate force with the last good version", v.version)
	} else {
		st.Detail = fmt.Sprintf("golang-migrate records only the current version, %s; every migration up to it counts as applied", v.version)
	}
	return st, nil
}

// goose reads goose_db_version (id, version_id, is_applied, tstamp). A
// version is applied when its latest row (highest id) has is_applied true;
// goose v3 deletes the row on down, older goose inserted is_applied =
// false. Version 0 is the row goose writes when it creates the table.
func (r reader) goose() (State, error) {
	latest := map[string]Applied{}
	applied := map[string]bool{}
	q := "SELECT version_id, is_applied, tstamp FROM " + r.qtable + " ORDER BY id"
	err := r.query(q, 3, func(v []any) error {
		id := idString(v[0])
		latest[id] = Applied{ID: id, AppliedAt: timeValue(v[2])}
		applied[id] = truthy(v[1])
		return nil
	})
	if err != nil {
		return State{}, err
	}
	var st State
	for id, a := range latest {
		if applied[id] && !sameID(id, "0") {
			st.Applied = append(st.Applied, a)
		}
	}
	sortApplied(st.Applied)
	return st, nil
}

// rails reads schema_migrations (version): every row is applied.
func (r reader) rails() (State, error) {
	var st State
	seen := map[string]bool{}
	err := r.query("SELECT version FROM "+r.qtable, 1, func(v []any) error {
		id := idString(v[0])
		if id != "" && !seen[id] {
			seen[id] = true
			st.Applied = append(st.Applied, Applied{ID: id})
		}
		return nil
	})
	if err != nil {
		return State{}, err
	}
	sortApplied(st.Applied)
	return st, nil
}

// flyway reads flyway_schema_history in installed_rank order. Successful
// rows are applied, baselines included; a repeatable migration (no
// version) is identified by its script and listed once. Rows with success
// = false make the State dirty (flyway refuses to migrate until repair).
// SCHEMA rows (flyway created the schema) are not migrations; UNDO_* and
// DELETE rows take their version back out.
func (r reader) flyway() (State, error) {
	var st State
	index := map[string]int{}
	var removed []string
	var failed []string
	q := "SELECT installed_rank, version, type, script, installed_on, success FROM " + r.qtable + " ORDER BY installed_rank"
	err := r.query(q, 6, func(v []any) error {
		version, typ, script := idString(v[1]), strings.ToUpper(idString(v[2])), idString(v[3])
		id := version
		if id == "" {
			id = script
		}
		switch {
		case typ == "SCHEMA" || id == "":
			return nil
		case !truthy(v[5]):
			failed = append(failed, id)
			return nil
		case strings.HasPrefix(typ, "UNDO") || typ == "DELETE":
			if i, ok := index[id]; ok {
				delete(index, id)
				st.Applied[i].ID = "" // removed below, keeping the order
				removed = append(removed, id)
			}
			return nil
		}
		if _, ok := index[id]; ok {
			return nil // a repeatable migration applied again
		}
		index[id] = len(st.Applied)
		st.Applied = append(st.Applied, Applied{ID: id, AppliedAt: timeValue(v[4])})
		return nil
	})
	if err != nil {
		return State{}, err
	}
	if len(removed) > 0 {
		kept := st.Applied[:0]
		for _, a := range st.Applied {
			if a.ID != "" {
				kept = append(kept, a)
			}
		}
		st.Applied = kept
	}
	if len(failed) > 0 {
		st.Dirty = true
		st.Detail = fmt.Sprintf("flyway recorded failed migrations (%s); fix them, then run flyway repair", strings.Join(failed, ", "))
	}
	return st, nil
}

// prisma reads _prisma_migrations in started_at order. A migration is
// applied when one of its rows finished and was not rolled back. A
// migration whose rows all failed (never finished) or were rolled back is
// not applied and makes the State dirty.
func (r reader) prisma() (State, error) {
	var st State
	done := map[string]bool{}
	var order []string         // migration names with a problem, first seen first
	bad := map[string]string{} // migration_name → why
	q := "SELECT migration_name, finished_at, rolled_back_at FROM " + r.qtable + " ORDER BY started_at, migration_name"
	err := r.query(q, 3, func(v []any) error {
		name := idString(v[0])
		if name == "" {
			return nil
		}
		finished, rolledBack := timeValue(v[1]), v[2] != nil
		why := ""
		switch {
		case rolledBack:
			why = "rolled back"
		case finished == nil:
			why = "failed (started, never finished)"
		case !done[name]:
			done[name] = true
			st.Applied = append(st.Applied, Applied{ID: name, AppliedAt: finished})
		}
		if why != "" {
			if _, ok := bad[name]; !ok {
				order = append(order, name)
			}
			bad[name] = why
		}
		return nil
	})
	if err != nil {
		return State{}, err
	}
	var problems []string
	for _, name := range order {
		if why := bad[name]; !done[name] {
			problems = append(problems, name+" "+why)
		}
	}
	if len(problems) > 0 {
		st.Dirty = true
		st.Detail = fmt.Sprintf("prisma migrations not applied: %s; resolve with prisma migrate resolve, then deploy again", strings.Join(problems, "; "))
	}
	return st, nil
}

// custom reads Source.Column (and Source.AppliedColumn) from Source.Table.
func (r reader) custom() (State, error) {
	col, err := r.c.d.quoteName(r.src.Column)
	if err != nil {
		return State{}, invalid("migration column: %v", err)
	}
	cols, n := col, 1
	if r.src.AppliedColumn != "" {
		ac, err := r.c.d.quoteName(r.src.AppliedColumn)
		if err != nil {
			return State{}, invalid("migration applied column: %v", err)
		}
		cols, n = col+", "+ac, 2
	}
	var st State
	seen := map[string]bool{}
	err = r.query("SELECT "+cols+" FROM "+r.qtable, n, func(v []any) error {
		id := idString(v[0])
		if id == "" || seen[id] || (n == 2 && !truthy(v[1])) {
			return nil
		}
		seen[id] = true
		a := Applied{ID: id}
		if n == 2 {
			if t, ok := v[1].(time.Time); ok {
				a.AppliedAt = timeValue(t)
			}
		}
		st.Applied = append(st.Applied, a)
		return nil
	})
	if err != nil {
		return State{}, err
	}
	sortApplied(st.Applied)
	return st, nil
}

func sortApplied(a []Applied) {
	sort.SliceStable(a, func(i, j int) bool { return compareIDs(a[i].ID, a[j].ID) < 0 })
}
