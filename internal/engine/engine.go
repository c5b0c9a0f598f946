// Package engine turns stored state and time into actions. It asks
// pipeline.Decide what should happen, writes the decision and the River jobs
// that carry it out in one transaction, and only then lets the side effects
// (deploy commands) start. Every action it takes is idempotent, so running a
// decision twice, or on two replicas at once, changes nothing.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/router"
	"github.com/bakery-deploy/bakery/internal/secret"
	"github.com/bakery-deploy/bakery/internal/store"
)

// Options configures an Engine.
type Options struct {
	Config   *config.Config
	Clock    pipeline.Clock
	Deployer deploy.Deployer
	Logger   *slog.Logger
	// HeartbeatInterval is how often a running deployment reports that its
	// worker is alive (default 1s); HeartbeatTimeout is how long silence
	// lasts before the deployment counts as interrupted (default 10s). The
	// replica's own heartbeat and the leader's look for stranded work come
	// four times within HeartbeatTimeout (but no more often than
	// HeartbeatInterval, and at least once a second for the leader).
	HeartbeatInterval time.Duration
	HeartbeatTimeout  time.Duration
	// OnChange, if set, is called after every committed change to a
	// service (for live updates).
	OnChange func(service string)
	// Registerer, if set, receives the engine's Prometheus metrics.
	Registerer prometheus.Registerer
	// Secrets are values masked in stored output and events besides the
	// ones the configuration names (the bootstrap token, say).
	Secrets []string
	// DecideInBackground makes Start return before the decision for every
	// service that follows a start has been taken (bakery serve: it
	// listens at once, whatever the number of services).
	DecideInBackground bool
}

// Engine runs bakery's pipelines.
type Engine struct {
	opts    Options
	cfg     atomic.Pointer[config.Config]
	clock   pipeline.Clock
	log     *slog.Logger
	store   store.Store
	workers *river.Workers
	holder  string

	leader  atomic.Bool
	metrics *metrics
	// masker masks known secrets in commands' output and in everything
	// written to the store (rule 13).
	masker *secret.Masker

	// The engine's services: each owns its state and its lock. The
	// deadline timers run on every replica; the duties (checks, judge,
	// weights, sweep) act only on the leader.
	timers  *deadlineTimers
	checks  *checkService
	judge   *judgeService
	weights *weightService
	sweep   *sweepService
	// decisions are when this process last decided each service (unit.go).
	decisions decisionTimes
	// feed hands the event log to its subscribers (feed.go).
	feed *feedService
	// retention prunes old events and output (server.retention).
	retention *retentionService
	// exposure counts use for exposure gates (exposure.go).
	exposure *exposureService

	// The built-in routers of this process, under routersMu.
	routersMu     sync.Mutex
	routers       map[routerKey]*routerEntry
	routerSync    chan struct{}
	routerMetrics *router.Metrics
	ctx           context.Context
	// migs is what the background reader last read of migration tables.
	migs migrationCache

	// recovery takes up work stranded by dead processes (recovery.go).
	recovery *recovery

	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// New makes an engine. Register its Workers with the store before Start.
func New(opts Options) *Engine {
	if opts.Clock == nil {
		opts.Clock = pipeline.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Deployer == nil {
		opts.Deployer = deploy.Exec{}
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = time.Second
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = 10 * time.Second
	}
	host, _ := os.Hostname()
	e := &Engine{
		opts:       opts,
		clock:      opts.Clock,
		log:        opts.Logger,
		holder:     host + ":" + strconv.Itoa(os.Getpid()) + ":" + strconv.FormatInt(time.Now().UnixNano(), 36),
		routers:    make(map[routerKey]*routerEntry),
		routerSync: make(chan struct{}, 1),
	}
	e.timers = newDeadlineTimers(opts.Clock, e.reconcileAtDeadline)
	e.checks = newCheckService(e)
	e.judge = newJudgeService(e)
	e.weights = newWeightService(e)
	e.sweep = newSweepService(e)
	e.feed = newFeedService(e)
	e.retention = newRetentionService(e)
	e.exposure = newExposureService(e)
	if opts.Registerer != nil {
		e.routerMetrics = router.NewMetrics(opts.Registerer)
	}
	e.metrics = newMetrics(opts.Registerer)
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(newInsightsCollector(e, e.clock.Now()))
	}
	e.recovery = &recovery{e: e}
	e.masker = &secret.Masker{}
	e.cfg.Store(opts.Config)
	e.updateSecrets(opts.Config)
	e.workers = river.NewWorkers()
	river.AddWorker(e.workers, &deployWorker{e: e})
	river.AddWorker(e.workers, &reconcileWorker{e: e})
	river.AddWorker(e.workers, &cleanupWorker{e: e})
	river.AddWorker(e.workers, &promoteWorker{e: e})
	e.registerBisect()
	return e
}

// Workers are the River workers the store must run for this engine.
func (e *Engine) Workers() *river.Workers { return e.workers }

// Config is the configuration in force.
func (e *Engine) Config() *config.Config { return e.cfg.Load() }

// Store is the engine's store.
func (e *Engine) Store() store.Store { return e.store }

// IsLeader reports whether this process currently leads.
func (e *Engine) IsLeader() bool { return e.leader.Load() }

// SetConfig replaces the configuration (on SIGHUP). Stored state is never
// touched by a reload; services that left the file keep their history.
func (e *Engine) SetConfig(ctx context.Context, cfg *config.Config) {
	e.cfg.Store(cfg)
	e.updateSecrets(cfg)
	e.log.Info("configuration reloaded", "path", cfg.Path, "included_files", len(cfg.Files), "services", len(cfg.Services))
	if e.ctx != nil {
		e.startRouters(e.ctx)
	}
	if e.leader.Load() {
		e.reconcileAll(ctx)
	}
}

// Start starts River's workers and the leader loop.
func (e *Engine) Start(ctx context.Context, st store.Store) error {
	e.store = maskingStore{Store: actorStore{st}, m: e.masker}
	st = e.store
	if st.Kind() == "sqlite" {
		// One process owns a SQLite database (the store holds a file lock),
		// so every deployment still pending or running belongs to a process
		// that died: recover them now rather than after a heartbeat timeout.
		if err := e.recoverAfterRestart(ctx); err != nil {
			return err
		}
	}
	if err := st.Start(ctx); err != nil {
		return err
	}
	ctx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	e.ctx = ctx
	e.recovery.start(ctx, &e.wg)
	// Every replica runs the built-in routers (each on its own host) and
	// keeps them at the stored canary weights.
	e.startRouters(ctx)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.routerLoop(ctx)
	}()
	// Decide for every service now, on every replica: it arms the timers
	// for bake deadlines that passed or come due while this process was
	// away, without waiting for leadership. bakery serve does it in the
	// background, so that it listens at once whatever the number of
	// services.
	if e.opts.DecideInBackground {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.sweep.reconcileAll(ctx)
		}()
	} else {
		e.sweep.reconcileAll(ctx)
	}
	for _, d := range e.duties() {
		d.Start(ctx)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.leaderLoop(ctx)
	}()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.migrationReader(ctx)
	}()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.exposure.run(ctx)
	}()
	return nil
}

// duties are the services that act on the leader.
func (e *Engine) duties() []*duty {
	return []*duty{&e.checks.duty, &e.judge.duty, &e.weights.duty, &e.sweep.duty, &e.feed.duty, &e.retention.duty}
}

// Stop stops the leader loop and timers. The caller closes the store
// afterwards, which waits for running jobs.
func (e *Engine) Stop(ctx context.Context) {
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
	for _, d := range e.duties() {
		d.Stop()
	}
	e.stopRouters()
	e.timers.stop()
	if e.leader.Load() && e.store != nil {
		_ = e.store.LeaderResign(ctx, "engine", e.holder)
		e.leader.Store(false)
	}
}

const leaderTTL = 10 * time.Second

// leaderEvery is how often the leader loop renews or seeks leadership and
// looks for stranded deployments: four times within the heartbeat timeout
// (a dead replica's work is taken over within 1.25 timeouts), at most
// every second, and at least three times within the leader's lease.
func (e *Engine) leaderEvery() time.Duration {
	return min(leaderTTL/3, max(time.Second, e.opts.HeartbeatTimeout/4))
}

// leaderLoop keeps or seeks leadership. The leader sweeps for interrupted
// deployments; its other duties (checks, canary judging and weights, the
// periodic reconcile of every service) are services that act while
// IsLeader holds, kicked here at election. Decisions themselves are safe
// on any replica.
func (e *Engine) leaderLoop(ctx context.Context) {
	tick := time.NewTicker(e.leaderEvery())
	defer tick.Stop()
	for {
		now := e.clock.Now()
		ok, err := e.store.LeaderAcquire(ctx, "engine", e.holder, now, leaderTTL)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			e.log.Error("leader election failed", "error", err)
			ok = false
		}
		was := e.leader.Swap(ok)
		if ok {
			e.metrics.leader.Set(1)
		} else {
			e.metrics.leader.Set(0)
		}
		if ok && !was {
			e.log.Info("elected leader", "holder", e.holder)
			e.sweep.forget()
			for _, d := range e.duties() {
				d.kick()
			}
		}
		if !ok && was {
			e.log.Warn("lost leadership", "holder", e.holder)
		}
		if ok {
			e.recoverInterrupted(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (e *Engine) reconcileAll(ctx context.Context) {
	for _, svc := range e.Config().Services {
		if err := e.Reconcile(ctx, svc.Name); err != nil && ctx.Err() == nil {
			e.log.Error("reconcile failed", "service", svc.Name, "error", err)
		}
	}
}

// EnvSpecs is what the decision needs to know of svc's environments:
// names, bakes, windows and checks.
func (e *Engine) EnvSpecs(svc *config.Service) []pipeline.EnvSpec {
	specs := make([]pipeline.EnvSpec, len(svc.Environments))
	for i, env := range svc.Environments {
		specs[i] = pipeline.EnvSpec{Name: env.Name, Bake: env.Bake}
		for _, c := range env.Checks {
			specs[i].Checks = append(specs[i].Checks, c.Name)
		}
		if env.Window != nil {
			specs[i].Window = env.Window
		}
		if env.Canary != nil {
			specs[i].CanarySteps = CanarySteps(env.Canary)
		}
		if env.Fix != nil {
			specs[i].Fix = &pipeline.FixLane{Bake: env.Fix.Bake, Approvals: env.Fix.Approvals}
		}
		if env.Approval != nil {
			specs[i].Approval = &pipeline.ApprovalGate{Count: env.Approval.Count, NotAuthor: env.Approval.NotAuthor}
		}
		specs[i].Exposure = ExposureSpec(env.Exposure)
	}
	return specs
}

// Reconcile takes the decision for one service now and carries it out.
func (e *Engine) Reconcile(ctx context.Context, service string) error {
	if _, ok := e.Config().Service(service); !ok {
		return nil // a service that left the configuration keeps its state, untouched
	}
	start := time.Now()
	err := e.mutate(ctx, service, func(u *unit) error { return nil })
	e.metrics.decisions.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("error reconciling %s: %w", service, err)
	}
	return nil
}

// after runs once a transaction that changed a service has committed.
func (e *Engine) after(service string, next time.Time) {
	e.checks.wake(service)
	e.feed.kick()
	// A change may have started what a resting duty watches (a bake with
	// checks, a canary, a weight to set).
	e.checks.nudge()
	e.judge.nudge()
	e.weights.nudge()
	e.timers.arm(service, next)
	e.sweep.decided(service, next)
	if e.opts.OnChange != nil {
		e.opts.OnChange(service)
	}
}

// reconcileTx decides for svc inside tx (which holds the service lock) and
// writes down what it decided: superseded marks, pending deployments, the
// jobs that carry them out, and a durable wake-up at the next deadline.
func (e *Engine) reconcileTx(ctx context.Context, tx store.Tx, svc *config.Service) (time.Time, error) {
	now := e.clock.Now()
	if err := e.expireLocks(ctx, tx, svc.Name, now); err != nil {
		return time.Time{}, err
	}
	st, err := e.stateOf(ctx, tx, svc)
	if err != nil {
		return time.Time{}, err
	}
	d := pipeline.Decide(st, now)
	for _, s := range d.Supersession {
		reason := fmt.Sprintf("%s was promoted into %s in its place", s.By.Version, s.Environment)
		if err := tx.MarkInsert(ctx, &store.MarkInsertParams{ReleaseID: s.Release.ID, Environment: s.Environment,
			Kind: pipeline.MarkSuperseded, Actor: pipeline.ActorSystem, Reason: reason, CreatedAt: now}); err != nil {
			return time.Time{}, err
		}
		if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventReleaseSuperseded, Service: svc.Name,
			Environment: s.Environment, Version: s.Release.Version, ToVersion: s.By.Version, Actor: pipeline.ActorSystem, Reason: reason}); err != nil {
			return time.Time{}, err
		}
	}
	var jobs []store.Job
	for _, p := range d.Promotions {
		dep, err := tx.DeploymentInsert(ctx, &store.DeploymentInsertParams{Service: svc.Name, Environment: p.Environment,
			ReleaseID: p.Release.ID, Kind: pipeline.KindAuto, Actor: pipeline.ActorSystem, Reason: p.Reason, CreatedAt: now})
		if err != nil {
			return time.Time{}, err
		}
		data := map[string]any{}
		if !p.BakeStarted.IsZero() {
			data["bake_started_at"] = p.BakeStarted.UTC().Format(time.RFC3339Nano)
			data["bake_deadline"] = p.BakeDeadline.UTC().Format(time.RFC3339Nano)
		}
		if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventPromotionDecided, Service: svc.Name,
			Environment: p.Environment, Version: p.Release.Version, FromVersion: p.FromVersion, ToVersion: p.Release.Version,
			Actor: pipeline.ActorSystem, Reason: p.Reason, DeploymentID: dep.ID, Data: data}); err != nil {
			return time.Time{}, err
		}
		jobs = append(jobs, deployJob(dep.ID, dep.Attempt))
		e.log.Info("promotion decided", "service", svc.Name, "environment", p.Environment, "version", p.Release.Version,
			"from", p.FromVersion, "deployment", dep.ID, "reason", p.Reason)
	}
	if !d.NextCheck.IsZero() {
		at := d.NextCheck.UTC().Truncate(time.Millisecond).Add(time.Millisecond)
		jobs = append(jobs, reconcileJob(svc.Name, at))
	}
	if err := tx.JobInsert(ctx, jobs...); err != nil {
		return time.Time{}, err
	}
	return d.NextCheck, nil
}

// reconcileAtDeadline is what a deadline timer does.
func (e *Engine) reconcileAtDeadline(service string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.Reconcile(ctx, service); err != nil {
		e.log.Error("reconcile at deadline failed", "service", service, "error", err)
	}
}

// stateReader is what reads a service's stored state: the store, or a
// transaction.
type stateReader interface {
	ServiceState(ctx context.Context, service string, envs []pipeline.EnvSpec) (pipeline.State, error)
}

// stateOf reads svc's stored state for the decision, with its labels in
// the configuration now: a selector lock holds svc while they match (at
// decision time, so a reload that adds or relabels a service moves it in
// or out of the lock). Every decision reads the state through here.
func (e *Engine) stateOf(ctx context.Context, r stateReader, svc *config.Service) (pipeline.State, error) {
	st, err := r.ServiceState(ctx, svc.Name, e.EnvSpecs(svc))
	if err != nil {
		return st, err
	}
	st.Labels = svc.Labels
	return st, nil
}
