// Package github connects bakery to GitHub both ways: webhook deliveries
// in (webhook.go: push, workflow_run and check_suite create releases), and
// back out as durable jobs on their own queue (sync.go: a Deployment per
// environment with its statuses, and a bakery/ENV commit status on every
// release's commit), fed by the event log (engine.Subscribe).
package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/store"
)

// Options configures New.
type Options struct {
	Engine *engine.Engine
	Logger *slog.Logger
	// HTTPClient calls GitHub (nil: a client with a 30 s timeout).
	HTTPClient *http.Client
}

// GitHub is the integration: an http.Handler for the webhook, an event
// log subscriber and the workers of its jobs.
type GitHub struct {
	e   *engine.Engine
	log *slog.Logger
	hc  *http.Client
	st  atomic.Pointer[storeBox]

	mu       sync.Mutex
	client   *Client
	clientOf *config.GitHub
	// syncLocks holds a mutex per release being synced.
	syncLocks sync.Map
	// rejects counts refused deliveries per client address: past
	// rejectRecords a minute they are still refused but no longer put on
	// the record, so unsigned requests cannot flood the delivery log.
	rejects *httpx.Limiter
}

// rejectRecords is how many refused deliveries a minute one address gets
// on the delivery log.
const rejectRecords = 20

type storeBox struct{ s store.Store }

// New builds the integration. Subscribe it (engine.Subscribe) before the
// store is opened, and Bind the store once it is.
func New(o Options) *GitHub {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &GitHub{e: o.Engine, log: o.Logger.With("component", "github"), hc: o.HTTPClient,
		rejects: httpx.NewLimiter(httpx.LimiterOptions{Limit: rejectRecords, Window: time.Minute, Clock: o.Engine})}
}

// Bind gives the integration the open store, for the webhook's records and
// the jobs' state.
func (g *GitHub) Bind(st store.Store) { g.st.Store(&storeBox{st}) }

func (g *GitHub) store() store.Store {
	if b := g.st.Load(); b != nil {
		return b.s
	}
	return nil
}

// api returns a client for the github block in force, made again when the
// block changes (a reload).
func (g *GitHub) api() (*Client, error) {
	cfg := g.e.Config().GitHub
	if cfg == nil {
		return nil, errors.New("the configuration has no github block")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.client != nil && g.clientOf != nil && *g.clientOf == *cfg {
		return g.client, nil
	}
	c, err := NewClient(cfg, g.hc, g.e.Now)
	if err != nil {
		return nil, err
	}
	cp := *cfg
	g.client, g.clientOf = c, &cp
	return c, nil
}

// OwnerRepo is the owner/name of a repository URL
// (https://github.com/octo-org/octo-repo → octo-org/octo-repo).
func OwnerRepo(repository string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(repository))
	if err != nil || u.Host == "" {
		return "", false
	}
	p := strings.Trim(strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), ".git"), "/")
	parts := strings.Split(p, "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return "", false
	}
	return parts[0] + "/" + parts[1], true
}

// commitFiles lists the files a commit changed (GET
// /repos/{owner}/{repo}/commits/{sha}), for the paths of events that do
// not list them (workflow_run, check_suite).
func (g *GitHub) commitFiles(ctx context.Context, fullName, sha string) ([]string, error) {
	c, err := g.api()
	if err != nil {
		return nil, err
	}
	var out struct {
		Files []struct {
			Filename         string `json:"filename"`
			PreviousFilename string `json:"previous_filename"`
		} `json:"files"`
	}
	if err := c.Do(ctx, http.MethodGet, fmt.Sprintf("/repos/%s/commits/%s", fullName, sha), nil, &out); err != nil {
		return nil, err
	}
	var files []string
	for _, f := range out.Files {
		files = append(files, f.Filename)
		if f.PreviousFilename != "" {
			files = append(files, f.PreviousFilename)
		}
	}
	return files, nil
}
