package secret

import (
	"fmt"
	"os"
	"strings"
)

// FileSuffix names the variable that holds the path of a file with a
// secret's value: for a secret the configuration reads from VAR (url_env,
// api_key_env, app_key_env, mask_env, BAKERY_BOOTSTRAP_TOKEN,
// BAKERY_TOKEN, BAKERY_DATABASE_URL), VAR_FILE may name a file instead —
// what Docker and Kubernetes secrets and systemd's LoadCredential give.
const FileSuffix = "_FILE"

// Getenv returns the secret in the variable name: its value if it is set
// and not empty; otherwise, if name_FILE names a file, that file's content
// without its trailing newline; otherwise "". A file that cannot be read
// counts as unset (Lookup says why).
func Getenv(name string) string {
	v, _ := Lookup(name)
	return v
}

// Lookup is Getenv that also reports why a name_FILE could not be read.
func Lookup(name string) (string, error) {
	if name == "" {
		return "", nil
	}
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	path := os.Getenv(name + FileSuffix)
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s%s names %s, which cannot be read: %w", name, FileSuffix, path, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// FromFile reports whether the secret in name comes from name_FILE (the
// variable itself is unset or empty, and the file is readable): a command
// that should get name must then be given the value explicitly, since
// it is not in bakery's environment.
func FromFile(name string) bool {
	if name == "" || os.Getenv(name) != "" || os.Getenv(name+FileSuffix) == "" {
		return false
	}
	_, err := Lookup(name)
	return err == nil
}
