package secret

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGetenvFileConvention(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	require.NoError(t, os.WriteFile(file, []byte("s3cr3t-value\n"), 0o600))

	t.Setenv("BAKERY_T_KEY", "")
	t.Setenv("BAKERY_T_KEY_FILE", file)
	require.Equal(t, "s3cr3t-value", Getenv("BAKERY_T_KEY"), "the file's content, without its newline")
	require.True(t, FromFile("BAKERY_T_KEY"))

	t.Setenv("BAKERY_T_KEY", "from-env")
	require.Equal(t, "from-env", Getenv("BAKERY_T_KEY"), "the variable wins when set")
	require.False(t, FromFile("BAKERY_T_KEY"))

	t.Setenv("BAKERY_T_KEY", "")
	t.Setenv("BAKERY_T_KEY_FILE", filepath.Join(dir, "missing"))
	v, err := Lookup("BAKERY_T_KEY")
	require.Empty(t, v)
	require.ErrorContains(t, err, "BAKERY_T_KEY_FILE names "+filepath.Join(dir, "missing")+", which cannot be read")
	require.False(t, FromFile("BAKERY_T_KEY"))

	t.Setenv("BAKERY_T_KEY_FILE", "")
	require.Empty(t, Getenv("BAKERY_T_KEY"))
	require.Empty(t, Getenv(""))
}
