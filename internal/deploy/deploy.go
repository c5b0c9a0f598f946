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
)

// Request is one deployment to carry out.
type Request struct {
	Service, Environment, Version, Artifact string
	DeploymentID                            int64
	Attempt                                 int
	Command                                 []string          // argv; never run through a shell
	Dir                                     string            // working directory ("" = current)
	Env                                     map[string]string // extra variables (added after the process's own environment)
	Timeout                                 time.Duration     // 0 = no timeout
}

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
