// Package notify tells the world what bakery did: it follows the event log
// (engine.Subscribe) and delivers each event a destination asks for —
// signed webhooks (Standard Webhooks) and Slack messages — and it answers
// Slack's slash command and buttons (slackcmd.go).
//
// Delivery is at least once and in order per (destination, service):
// Handle writes one delivery row per event and destination, in the
// transaction that moves the notifier's cursor, and enqueues a drain job
// for the pair, unique while it waits or runs. The drain job sends the
// pair's pending deliveries oldest first and stops at the first failure;
// River retries it with an exponential back-off (Options.BackoffBase
// doubling up to BackoffMax, MaxAttempts tries: with the defaults, more
// than 24 h). Every attempt of a delivery carries the same webhook-id. The
// jobs run on their own queue ("notify"), each request bounded by
// Options.RequestTimeout, so a slow or dead destination never holds up the
// pipeline or another destination.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/secret"
	"github.com/bakery-deploy/bakery/internal/store"
)

// Defaults of Options.
const (
	DefaultBackoffBase    = time.Second
	DefaultBackoffMax     = time.Hour
	DefaultMaxAttempts    = 40 // 1 s doubling to 1 h, then hourly: ≈ 29 h
	DefaultRequestTimeout = 10 * time.Second
	// PileUpAfter is how long a lock holds before it is re-announced, and
	// PileUpEvery how often after that.
	PileUpAfter = 12 * time.Hour
	PileUpEvery = 3 * time.Hour
)

// Options configures a Notifier.
type Options struct {
	Engine *engine.Engine
	Logger *slog.Logger
	// Getenv reads the secrets the configuration names (default
	// secret.Getenv: VAR, or the file VAR_FILE names).
	Getenv func(string) string
	// HTTPClient sends webhooks and Slack calls (default: a client whose
	// requests time out after RequestTimeout).
	HTTPClient     *http.Client
	BackoffBase    time.Duration
	BackoffMax     time.Duration
	MaxAttempts    int
	RequestTimeout time.Duration
	// SweepInterval is how often the sweeper looks for deliveries that are
	// due and have no job (default 1 s; a read when there are none, and
	// nothing at all without destinations) and
	// for locks to re-announce. A drain job holds its pair while River
	// records it as running, a little after its last look at the pair; an
	// event written in that moment is sent by the sweeper's job, within
	// two sweeps.
	SweepInterval time.Duration
}

// Notifier is the event log's follower that delivers notifications.
type Notifier struct {
	e    *engine.Engine
	log  *slog.Logger
	opts Options
	http *http.Client

	pileMu   sync.Mutex
	pileLast time.Time // engine time of the last look at old locks

	// kick tells the sweeper that a drain job found its pair empty and
	// ended (see Run).
	kick chan [2]string

	busyMu sync.Mutex
	busy   map[string]int // drain jobs running per destination
}

// PerDestination is how many drain jobs of one destination run at once in
// a process (one per service): a slow destination with many services takes
// at most these of the notify queue's workers, and never all of them.
const PerDestination = 5

// acquire takes one of dest's PerDestination slots.
func (n *Notifier) acquire(dest string) bool {
	n.busyMu.Lock()
	defer n.busyMu.Unlock()
	if n.busy[dest] >= PerDestination {
		return false
	}
	n.busy[dest]++
	return true
}

func (n *Notifier) release(dest string) {
	n.busyMu.Lock()
	defer n.busyMu.Unlock()
	n.busy[dest]--
}

// New makes a notifier; engine.Subscribe it before the store opens.
func New(opts Options) *Notifier {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Getenv == nil {
		opts.Getenv = secret.Getenv
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = DefaultBackoffBase
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = DefaultBackoffMax
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = time.Second
	}
	c := opts.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: opts.RequestTimeout}
	}
	return &Notifier{e: opts.Engine, log: opts.Logger, opts: opts, http: c, kick: make(chan [2]string, 256), busy: map[string]int{}}
}

// Name is the notifier's cursor.
func (n *Notifier) Name() string { return "notify" }

// RegisterWorkers registers the drain job's worker.
func (n *Notifier) RegisterWorkers(w *river.Workers) {
	river.AddWorker(w, &drainWorker{n: n})
}

// Kind maps an event type to the kind of event destinations ask for
// (config.NotificationEvents); "" for events nobody is told about.
func Kind(eventType string) string {
	switch eventType {
	case pipeline.EventReleaseCreated, pipeline.EventPromotionDecided, pipeline.EventDeploymentStarted,
		pipeline.EventDeploymentSucceeded, pipeline.EventBakeSkipped:
		return "promotion"
	case pipeline.EventDeploymentFailed, pipeline.EventDeploymentInterrupted:
		return "failure"
	case pipeline.EventLockPlaced:
		return "lock"
	case pipeline.EventLockReleased, pipeline.EventLockExpired:
		return "unlock"
	case pipeline.EventRollbackDecided:
		return "rollback"
	case pipeline.EventEmergencyDecided:
		return "emergency"
	case pipeline.EventCanaryStarted, pipeline.EventCanaryAdvanced, pipeline.EventCanaryPromoting, pipeline.EventCanaryPromoted,
		pipeline.EventCanaryAborted:
		return "canary"
	case pipeline.EventCheckFailed, pipeline.EventCheckHealthy, pipeline.EventCheckInconclusive:
		return "check"
	case EventPileUp:
		return "pile_up"
	case pipeline.EventBisectStarted, pipeline.EventBisectCulprit, pipeline.EventBisectStuck, pipeline.EventBisectCancelled:
		return "bisect"
	}
	return ""
}

// EventPileUp is the type of a lock's re-announcement (no event of the
// log: the sweeper writes the deliveries itself).
const EventPileUp = "lock.pile_up"

// Body is a webhook's JSON body (Standard Webhooks' type/timestamp/data).
type Body struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data is what a notification says about its event.
type Data struct {
	EventID      int64          `json:"event_id"`
	Service      string         `json:"service"`
	Environment  string         `json:"environment,omitempty"`
	Version      string         `json:"version,omitempty"`
	FromVersion  string         `json:"from_version,omitempty"`
	ToVersion    string         `json:"to_version,omitempty"`
	Actor        string         `json:"actor,omitempty"`
	Reason       string         `json:"reason,omitempty"`
	DeploymentID int64          `json:"deployment_id,omitempty"`
	URL          string         `json:"url,omitempty"` // the dashboard's page of the service
	Details      map[string]any `json:"details,omitempty"`
}

func (n *Notifier) body(cfg *config.Config, ev pipeline.Event) Body {
	url := ""
	if ev.Service != pipeline.AllServices && ev.Service != "" {
		url = cfg.Server.URL + "/services/" + ev.Service
	}
	return Body{Type: ev.Type, Timestamp: ev.At.UTC(), Data: Data{EventID: ev.ID, Service: ev.Service, Environment: ev.Environment,
		Version: ev.Version, FromVersion: ev.FromVersion, ToVersion: ev.ToVersion, Actor: ev.Actor, Reason: ev.Reason,
		DeploymentID: ev.DeploymentID, URL: url, Details: ev.Data}}
}

// wants reports whether destination d is told about an event of kind for
// service.
func wants(d config.Notification, kind, service string) bool {
	if !slices.Contains(d.Events, kind) {
		return false
	}
	return len(d.Services) == 0 || service == pipeline.AllServices || slices.Contains(d.Services, service)
}

// MsgID is the webhook-id of an event's delivery to a destination: the
// same on every attempt.
func MsgID(eventID int64, destination string) string {
	return "msg_" + strconv.FormatInt(eventID, 10) + "_" + destination
}

// Handle writes a delivery for each event and destination that asks for
// it, and a drain job for each (destination, service) concerned.
func (n *Notifier) Handle(ctx context.Context, tx store.Tx, events []pipeline.Event) error {
	cfg := n.e.Config()
	if len(cfg.Notifications) == 0 {
		return nil
	}
	now := n.e.Now()
	pairs := map[[2]string]bool{}
	for _, ev := range events {
		kind := Kind(ev.Type)
		if kind == "" {
			continue
		}
		body, err := json.Marshal(n.body(cfg, ev))
		if err != nil {
			return fmt.Errorf("error encoding event %d: %w", ev.ID, err)
		}
		for _, d := range cfg.Notifications {
			if !wants(d, kind, ev.Service) {
				continue
			}
			if err := n.insert(ctx, tx, d.Name, ev.Service, ev.ID, ev.Type, MsgID(ev.ID, d.Name), body, now); err != nil {
				return err
			}
			pairs[[2]string{d.Name, ev.Service}] = true
		}
	}
	return n.enqueue(ctx, tx, pairs)
}

func (n *Notifier) insert(ctx context.Context, tx store.Tx, dest, service string, eventID int64, typ, msgID string, body []byte, now time.Time) error {
	_, err := tx.DeliveryInsert(ctx, &store.Delivery{Destination: dest, Service: service, EventID: eventID, Type: typ,
		MsgID: msgID, Payload: body, NextAttemptAt: now, CreatedAt: now})
	if errors.Is(err, store.ErrConflict) {
		return nil // written already
	}
	return err
}

func (n *Notifier) enqueue(ctx context.Context, tx store.Tx, pairs map[[2]string]bool) error {
	jobs := make([]store.Job, 0, len(pairs))
	for p := range pairs {
		jobs = append(jobs, n.drainJob(p[0], p[1]))
	}
	if len(jobs) == 0 {
		return nil
	}
	slices.SortFunc(jobs, func(a, b store.Job) int {
		x, y := a.Args.(DrainArgs), b.Args.(DrainArgs)
		if x.Destination+"\x00"+x.Service < y.Destination+"\x00"+y.Service {
			return -1
		}
		return 1
	})
	return tx.JobInsert(ctx, jobs...)
}

func (n *Notifier) drainJob(dest, service string) store.Job {
	return store.Job{Kind: DrainArgs{}.Kind(), Args: DrainArgs{Destination: dest, Service: service}, Queue: engine.QueueNotify,
		MaxAttempts: n.opts.MaxAttempts, UniqueWhileWaiting: true}
}

func destination(cfg *config.Config, name string) (config.Notification, bool) {
	for _, d := range cfg.Notifications {
		if d.Name == name {
			return d, true
		}
	}
	return config.Notification{}, false
}
