package inbox

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrateLockKey is the advisory lock every migration transaction takes, so
// two engines starting at once apply each migration exactly once.
const migrateLockKey int64 = 0x5342_696e_626f_7801 // "SBinbox" 1

type migration struct {
	version int
	name    string
	sql     string
}

var migrations = mustLoadMigrations()

func mustLoadMigrations() []migration {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		panic(err) // the embedded files are part of the binary; a test covers them
	}
	return ms
}

// loadMigrations reads NNNN_name.sql files, which must be numbered 1, 2, 3...
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []migration
	for i, name := range names {
		base := path.Base(name)
		num, rest, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("inbox: migration %s: name is not NNNN_name.sql", base)
		}
		if v != i+1 {
			return nil, fmt.Errorf("inbox: migration %s: expected version %d", base, i+1)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: strings.TrimSuffix(rest, ".sql"), sql: string(b)})
	}
	return ms, nil
}

// LatestVersion is the schema version this binary migrates to.
func LatestVersion() int { return len(migrations) }

// Beginner is what Migrate needs: a *pgxpool.Pool or a *pgx.Conn.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Migrate brings the schema to LatestVersion. Running it again is a no-op.
// Each migration runs in its own transaction under an advisory lock, so
// concurrent callers (two engines starting) do not race.
func Migrate(ctx context.Context, db Beginner) error {
	return MigrateTo(ctx, db, LatestVersion())
}

// MigrateTo applies the migrations up to and including version. It never
// goes down: a database already past version is left as it is.
func MigrateTo(ctx context.Context, db Beginner, version int) error {
	if version < 0 || version > LatestVersion() {
		return invalid("schema version %d (latest is %d)", version, LatestVersion())
	}
	for _, m := range migrations[:version] {
		if err := applyMigration(ctx, db, m); err != nil {
			return fmt.Errorf("inbox: migration %04d_%s: %w", m.version, m.name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db Beginner, m migration) error {
	tx, err := db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLockKey); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	var done bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", m.version).Scan(&done); err != nil {
		return err
	}
	if done {
		return tx.Commit(ctx)
	}
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// SchemaVersion returns the highest migration applied, 0 for an empty database.
func SchemaVersion(ctx context.Context, db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) (int, error) {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return 0, err
	}
	var v int
	err := db.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}
