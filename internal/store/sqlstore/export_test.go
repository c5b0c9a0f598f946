package sqlstore

// NewestMigration is the name of this binary's newest migration of dialect.
func NewestMigration(dialect string) string {
	names, err := migrationFiles(dialect)
	if err != nil || len(names) == 0 {
		return ""
	}
	return names[len(names)-1]
}

// MigrationSQL is the body of one embedded migration file of dialect.
func MigrationSQL(dialect, name string) string {
	b, err := migrationsFS.ReadFile("migrations/" + dialect + "/" + name)
	if err != nil {
		panic(err)
	}
	return string(b)
}
