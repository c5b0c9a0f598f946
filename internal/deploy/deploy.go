// Package deploy carries out deployments: it runs a service's deploy command
// for one release in one environment and reports how it ended.
//
// Each kind of deployer lives in its own file; Exec (exec.go) runs the
// command as a local child process.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bakery-deploy/bakery/internal/secret"
)

// Request is one deployment to carry out.
type Request struct {
	Service, Environment, Version, Artifact string
	DeploymentID                            int64
	Attempt                                 int
	Command                                 []string // argv; never run through a shell
	Dir                                     string   // working directory ("" = current)
	// Env holds extra variables (deploy.env); they win over every other.
	Env map[string]string
	// InheritEnv names variables of bakery's own environment the command
	// also gets (deploy.inherit_env and server.inherit_env). Nothing else of
	// bakery's environment reaches it but the names in BaseEnv.
	InheritEnv []string
	// Mask, if set, masks known secret values in the command's output
	// before it reaches out.
	Mask    *secret.Masker
	Timeout time.Duration // 0 = no timeout
}

// BaseEnv are the variables of bakery's own environment every command
// gets, when they are set: what a program needs to find its tools and speak
// the operator's language, and nothing that could hold a secret.
var BaseEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR"}

// Deployer carries out deployments. Kinds other than exec will come later
// (one file per kind).
//
// Deploy returns nil when the deployment succeeded. The command's combined
// output goes to out as it is produced, so it can be watched while the
// deployment runs.
type Deployer interface {
	Deploy(ctx context.Context, req Request, out *Tail) error
}

// ErrTimeout is matched (errors.Is) by the error of a deploy command that ran
// longer than its Request.Timeout.
var ErrTimeout = errors.New("deploy command timed out")

// ExitError is the error of a deploy command that exited with a non-zero
// status. A command killed by a signal it did not get from bakery has
// Code 128+signal, as in a shell, and is returned wrapped in an error that
// names the signal.
type ExitError struct{ Code int }

func (e *ExitError) Error() string {
	return fmt.Sprintf("deploy command exited with status %d", e.Code)
}
