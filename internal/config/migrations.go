package config

import (
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Migrations is an environment's schema migration step: applied before the
// code deploys, then verified against the database's own migration table
// (SPEC rule 12).
type Migrations struct {
	// Apply runs before the deploy command, with the same BAKERY_*
	// variables; empty: bakery only verifies.
	Apply []string
	// Expected, if set, prints the migration IDs the release needs, one per
	// line, in addition to those given with `release create --migration`.
	Expected []string
	// Database is where to read what is applied; nil: nothing is verified.
	Database *MigrationDatabase
}

// MigrationDatabase says how to read an environment's applied migrations.
// The URL comes from the server's environment at read time and is never
// stored.
type MigrationDatabase struct {
	Driver        string // postgres | mysql | sqlite
	URLEnv        string // name of the variable holding the URL
	Tool          string // golang-migrate | goose | rails | flyway | prisma | table
	Table         string // for tool table (or to rename a tool's table)
	Column        string // for tool table: the column with migration IDs
	AppliedColumn string // for tool table: optional; rows count only when it is true
}

var (
	migrationsFields = []string{"apply", "expected", "database"}
	databaseFields   = []string{"driver", "url_env", "tool", "table", "column", "applied_column"}
	migrationDrivers = []string{"postgres", "mysql", "sqlite"}
	migrationTools   = []string{"golang-migrate", "goose", "rails", "flyway", "prisma", "table"}
	identRE          = envKeyRE
)

// migrations walks an environment's migrations block.
func (p *parser) migrations(n *yaml.Node, path string) *Migrations {
	f, ok := p.mapping(n, n, path, "migrations", migrationsFields)
	if !ok {
		return nil
	}
	m := &Migrations{}
	if v := f.get("apply"); v != nil {
		m.Apply = p.argv(v, f.field("apply"), `["./migrate.sh", "up"]`)
	}
	if v := f.get("expected"); v != nil {
		m.Expected = p.argv(v, f.field("expected"), `["./list-migrations.sh"]`)
	}
	if v := f.get("database"); v != nil {
		m.Database = p.migrationDatabase(v, f.field("database"))
	} else if m.Apply == nil {
		p.add(n, path, "migrations has neither apply nor database: add apply (the command that migrates) and/or database (where to check what is applied)")
	}
	return m
}

// argv reads a command given as a list of arguments.
func (p *parser) argv(n *yaml.Node, field, example string) []string {
	if n.Kind != yaml.SequenceNode {
		p.add(n, field, "%s must be a list of arguments (argv, run without a shell), e.g. %s; got %s", field, example, describe(n))
		return nil
	}
	var out []string
	for i, item := range n.Content {
		item = p.resolve(item)
		if item == nil || item.Kind != yaml.ScalarNode || item.Value == "" {
			p.add(item, field, "argument %d must be a non-empty word, e.g. %s", i, example)
			return nil
		}
		out = append(out, item.Value)
	}
	if len(out) == 0 {
		p.add(n, field, "%s is empty; give the command as a list, e.g. %s", field, example)
		return nil
	}
	if strings.Contains(out[0], "/") && !filepath.IsAbs(out[0]) {
		out[0] = filepath.Join(p.dir, out[0])
	}
	return out
}

func (p *parser) migrationDatabase(n *yaml.Node, path string) *MigrationDatabase {
	f, ok := p.mapping(n, n, path, "migrations.database", databaseFields)
	if !ok {
		return nil
	}
	db := &MigrationDatabase{}
	str := func(key, example string) (string, *yaml.Node) {
		v := f.get(key)
		if v == nil {
			return "", nil
		}
		s, _ := p.scalar(v, f.field(key), example)
		return s, v
	}
	var v *yaml.Node
	db.Driver, v = str("driver", "postgres")
	if v == nil {
		p.add(f.at("driver"), f.field("driver"), "driver is required: one of %s", strings.Join(migrationDrivers, ", "))
	} else if !slices.Contains(migrationDrivers, db.Driver) {
		p.add(v, f.field("driver"), "unknown driver %q; use one of %s", db.Driver, strings.Join(migrationDrivers, ", "))
	}
	db.URLEnv, v = str("url_env", "STAGING_DATABASE_URL")
	if v == nil {
		p.add(f.at("url_env"), f.field("url_env"), "url_env is required: the name of the environment variable that holds the database URL (the URL itself never goes in this file), e.g. url_env: STAGING_DATABASE_URL")
	} else if !envKeyRE.MatchString(db.URLEnv) {
		p.add(v, f.field("url_env"), "url_env %q is not a variable name; write a name such as STAGING_DATABASE_URL (the URL itself never goes in this file)", db.URLEnv)
	}
	db.Tool, v = str("tool", "golang-migrate")
	if v == nil {
		p.add(f.at("tool"), f.field("tool"), "tool is required: one of %s", strings.Join(migrationTools, ", "))
	} else if !slices.Contains(migrationTools, db.Tool) {
		p.add(v, f.field("tool"), "unknown tool %q; use one of %s", db.Tool, strings.Join(migrationTools, ", "))
	}
	for _, key := range []string{"table", "column", "applied_column"} {
		s, v := str(key, "schema_versions")
		if v != nil && !identRE.MatchString(s) {
			p.add(v, f.field(key), "%s %q must be a plain SQL name (letters, digits, _)", key, s)
		}
		switch key {
		case "table":
			db.Table = s
		case "column":
			db.Column = s
		case "applied_column":
			db.AppliedColumn = s
		}
	}
	if db.Tool == "table" {
		if db.Table == "" {
			p.add(f.at("table"), f.field("table"), "tool table needs table: the table that lists applied migrations")
		}
		if db.Column == "" {
			p.add(f.at("column"), f.field("column"), "tool table needs column: the column with the migration IDs")
		}
	}
	return db
}
