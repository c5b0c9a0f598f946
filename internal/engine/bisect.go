package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/riverqueue/river"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// The bisect's event types, from pipeline/events.go.
const (
	EventBisectStarted   = pipeline.EventBisectStarted
	EventBisectProbed    = pipeline.EventBisectProbed
	EventBisectCulprit   = pipeline.EventBisectCulprit
	EventBisectStuck     = pipeline.EventBisectStuck
	EventBisectCancelled = pipeline.EventBisectCancelled
)

// maxBisectRepeat bounds --repeat: each run is one evaluation of the check.
const maxBisectRepeat = 20

// maxBisectRange bounds the releases a bisect searches (and what each of
// its steps reads): 4096 releases take 13 probes.
const maxBisectRange = 4096

// bisectBusyRetry is how long a bisect waits before looking again when
// its environment has a deployment in progress that is not its own.
const bisectBusyRetry = time.Second

// BisectCheckArgs asks a worker to run a bisect's check on the version
// its environment now runs, Repeat times, and to decide the next step.
type BisectCheckArgs struct {
	// Service names the service (for the event of a rescue).
	Service  string `json:"service"`
	BisectID int64  `json:"bisect_id"`
	Version  string `json:"version"`
}

// Kind is River's name for the job.
func (BisectCheckArgs) Kind() string { return "bakery_bisect_check" }

func bisectCheckJob(b pipeline.Bisect, version string) store.Job {
	return store.Job{Kind: BisectCheckArgs{}.Kind(), Args: BisectCheckArgs{Service: b.Service, BisectID: b.ID, Version: version},
		Queue: QueueDeploy, MaxAttempts: jobAttempts, UniqueByArgs: true}
}

// BisectStepArgs asks for a bisect's next step to be taken again at At (its
// environment was busy with another deployment).
type BisectStepArgs struct {
	Service  string    `json:"service"`
	BisectID int64     `json:"bisect_id"`
	At       time.Time `json:"at"`
}

// Kind is River's name for the job.
func (BisectStepArgs) Kind() string { return "bakery_bisect_step" }

func bisectStepJob(b pipeline.Bisect, at time.Time) store.Job {
	return store.Job{Kind: BisectStepArgs{}.Kind(), Args: BisectStepArgs{Service: b.Service, BisectID: b.ID, At: at}, ScheduledAt: at,
		Queue: QueueDefault, MaxAttempts: jobAttempts, UniqueByArgs: true}
}

type bisectCheckWorker struct {
	river.WorkerDefaults[BisectCheckArgs]
	e *Engine
}

func (w *bisectCheckWorker) Work(ctx context.Context, job *river.Job[BisectCheckArgs]) error {
	if !w.e.recovery.jobStarts(ctx, job.Kind, job.Args) {
		return nil
	}
	return w.e.runBisectCheck(ctx, job.Args.BisectID, job.Args.Version)
}

type bisectStepWorker struct {
	river.WorkerDefaults[BisectStepArgs]
	e *Engine
}

func (w *bisectStepWorker) Work(ctx context.Context, job *river.Job[BisectStepArgs]) error {
	if !w.e.recovery.jobStarts(ctx, job.Kind, job.Args) {
		return nil
	}
	b, err := w.e.store.BisectGet(ctx, job.Args.BisectID)
	if err != nil || b.State.IsTerminal() {
		return err
	}
	return w.e.mutate(ctx, b.Service, func(u *unit) error {
		b, err := u.tx.BisectGet(ctx, job.Args.BisectID)
		if err != nil || b.State.IsTerminal() || b.Probe == "" || b.ProbeDeployment != 0 {
			return err
		}
		return w.e.bisectStep(ctx, u.tx, b, u.now)
	})
}

// registerBisect adds the bisect's workers; engine.New calls it.
func (e *Engine) registerBisect() {
	river.AddWorker(e.workers, &bisectCheckWorker{e: e})
	river.AddWorker(e.workers, &bisectStepWorker{e: e})
}

// BisectParams starts a bisect.
type BisectParams struct {
	Service string
	// Good is a version whose check passes; Bad one whose check fails,
	// newer than Good.
	Good, Bad string
	// Check names a bake check of the service (any environment's).
	Check string
	// Repeat is how many runs of the check each probe takes (default 3);
	// they must agree.
	Repeat int
	// RestoreGood returns the environment, when done, to the newest
	// release found healthy rather than to what it ran before.
	RestoreGood bool
	Reason      string
}

// bisectCheckSpec finds the check named name among svc's checks.
func bisectCheckSpec(svc *config.Service, name string) (check.Spec, bool) {
	for _, env := range svc.Environments {
		for _, c := range env.Checks {
			if c.Name == name {
				return c, true
			}
		}
	}
	return check.Spec{}, false
}

// StartBisect starts a bisect of p.Service on its first environment: it
// writes the bisect and its first step (a probe deployment, or the check's
// job when the environment runs the bad version already) in one unit of
// work. While it runs, Decide holds automatic deploys into that
// environment and promotions out of it.
func (e *Engine) StartBisect(ctx context.Context, actor string, p BisectParams) (pipeline.Bisect, error) {
	svc, err := e.Service(p.Service)
	if err != nil {
		return pipeline.Bisect{}, err
	}
	if p.Repeat == 0 {
		p.Repeat = 3
	}
	if p.Repeat < 1 || p.Repeat > maxBisectRepeat {
		return pipeline.Bisect{}, fmt.Errorf("%w: repeat is %d: give 1 to %d runs of the check per probe", ErrInvalid, p.Repeat, maxBisectRepeat)
	}
	if _, ok := bisectCheckSpec(svc, p.Check); !ok {
		return pipeline.Bisect{}, fmt.Errorf("%w: %s has no check named %q: name one of the checks in its environments' checks blocks",
			ErrInvalid, svc.Name, p.Check)
	}
	if p.Reason == "" {
		p.Reason = fmt.Sprintf("find the first release between %s and %s whose check %s fails", p.Good, p.Bad, p.Check)
	}
	if err := validText("reason", p.Reason, maxReason); err != nil {
		return pipeline.Bisect{}, err
	}
	var b pipeline.Bisect
	err = e.mutate(ctx, svc.Name, func(u *unit) error {
		var err error
		b, err = e.startBisectTx(ctx, u.tx, svc, actor, p, u.now)
		return err
	})
	if err != nil {
		return pipeline.Bisect{}, err
	}
	return b, nil
}

// startBisectTx starts a bisect in tx, which holds the service lock.
func (e *Engine) startBisectTx(ctx context.Context, tx store.Tx, svc *config.Service, actor string, p BisectParams, now time.Time) (pipeline.Bisect, error) {
	env := svc.Environments[0].Name
	good, err := e.bisectRelease(ctx, tx, svc.Name, p.Good, "good")
	if err != nil {
		return pipeline.Bisect{}, err
	}
	bad, err := e.bisectRelease(ctx, tx, svc.Name, p.Bad, "bad")
	if err != nil {
		return pipeline.Bisect{}, err
	}
	if bad.ID <= good.ID {
		return pipeline.Bisect{}, fmt.Errorf("%w: the bad version %s is not newer than the good version %s: give --good an older release than --bad",
			ErrInvalid, p.Bad, p.Good)
	}
	if running, err := tx.BisectList(ctx, &store.BisectListParams{Service: svc.Name, Running: true, Limit: 1}); err != nil {
		return pipeline.Bisect{}, err
	} else if len(running) > 0 {
		return pipeline.Bisect{}, fmt.Errorf("%w: bisect %d of %s is running already: follow it or cancel it first", ErrConflict, running[0].ID, svc.Name)
	}
	returnTo := ""
	if cur, err := tx.DeploymentList(ctx, &store.DeploymentListParams{Service: svc.Name, Environment: env,
		States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}, Limit: 1}); err != nil {
		return pipeline.Bisect{}, err
	} else if len(cur) > 0 {
		returnTo = cur[0].Version
	}
	b, err := tx.BisectInsert(ctx, &pipeline.Bisect{Service: svc.Name, Environment: env, Good: p.Good, Bad: p.Bad,
		Check: p.Check, Repeat: p.Repeat, RestoreGood: p.RestoreGood, ReturnTo: returnTo, State: pipeline.BisectRunning,
		StartedBy: actor, Reason: p.Reason, CreatedAt: now})
	if errors.Is(err, store.ErrConflict) {
		return b, fmt.Errorf("%w: a bisect of %s is running already", ErrConflict, svc.Name)
	}
	if err != nil {
		return b, err
	}
	if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: EventBisectStarted, Service: svc.Name, Environment: env, Version: p.Bad,
		FromVersion: p.Good, Actor: actor, Reason: p.Reason,
		Data: map[string]any{"bisect_id": b.ID, "good": p.Good, "bad": p.Bad, "check": p.Check, "repeat": p.Repeat}}); err != nil {
		return b, err
	}
	e.log.Info("bisect started", "service", svc.Name, "environment", env, "good", p.Good, "bad", p.Bad, "check", p.Check, "bisect", b.ID)
	if err := e.bisectStep(ctx, tx, b, now); err != nil {
		return b, err
	}
	return tx.BisectGet(ctx, b.ID)
}

// findCulprit is culprit_finding: when the check named in env's
// culprit_finding fails the bake of below (the release the environment
// before runs) and more than one release came since the version env runs,
// a bisect of those releases starts in the same transaction (once per
// range and check).
func (e *Engine) findCulprit(ctx context.Context, tx store.Tx, svc *config.Service, env string, below *pipeline.Release,
	check string, now time.Time) error {
	cenv, i, ok := svc.Environment(env)
	if !ok || i == 0 || cenv.CulpritFinding == nil || cenv.CulpritFinding.Check != check || below == nil {
		return nil
	}
	if dep, err := tx.DeploymentList(ctx, &store.DeploymentListParams{Service: svc.Name, Environment: svc.Environments[i-1].Name,
		States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}, Limit: 1}); err != nil {
		return err
	} else if len(dep) > 0 && dep[0].Kind == pipeline.KindBisect {
		return nil // a bisect put it there and has examined it; a new release below starts culprit finding again
	}
	cur, err := tx.DeploymentList(ctx, &store.DeploymentListParams{Service: svc.Name, Environment: env,
		States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}, Limit: 1})
	if err != nil || len(cur) == 0 {
		return err // nothing ran there yet: no good version to start from
	}
	good, err := tx.ReleaseGetByID(ctx, cur[0].ReleaseID)
	if err != nil {
		return err
	}
	rels, err := tx.ReleaseList(ctx, &store.ReleaseListParams{Service: svc.Name, AfterID: good.ID, UpToID: below.ID, Limit: maxBisectRange})
	if err != nil {
		return err
	}
	since := len(rels)
	if since <= 1 {
		return nil // the one release is the culprit; the failed bake says so already
	}
	past, err := tx.BisectList(ctx, &store.BisectListParams{Service: svc.Name, Limit: 100})
	if err != nil {
		return err
	}
	for _, b := range past {
		if b.State == pipeline.BisectRunning || (b.Good == good.Version && b.Bad == below.Version && b.Check == check) {
			return nil
		}
		if b.State == pipeline.BisectFound && b.Check == check {
			// A culprit found in this range explains the failure: every
			// release after it carries its change until a fix lands.
			if c, err := tx.ReleaseGet(ctx, svc.Name, b.Culprit); err == nil && c.ID > good.ID && c.ID <= below.ID {
				return nil
			}
		}
	}
	_, err = e.startBisectTx(ctx, tx, svc, pipeline.ActorSystem, BisectParams{Service: svc.Name, Good: good.Version, Bad: below.Version,
		Check: check, Repeat: cenv.CulpritFinding.Repeat,
		Reason: fmt.Sprintf("culprit finding: check %s failed the bake of %s with %d releases since %s, which %s runs", check,
			below.Version, since, good.Version, env)}, now)
	if errors.Is(err, ErrInvalid) || errors.Is(err, ErrConflict) {
		// The check's result and its lock stand without a bisect.
		e.log.Warn("culprit finding did not start a bisect", "service", svc.Name, "check", check, "error", err)
		return nil
	}
	return err
}

func (e *Engine) bisectRelease(ctx context.Context, tx store.Tx, service, version, which string) (pipeline.Release, error) {
	r, err := tx.ReleaseGet(ctx, service, version)
	if errors.Is(err, store.ErrNotFound) {
		return r, fmt.Errorf("%w: the %s version %s is not a release of %s: give a version `bakery history %s` lists",
			ErrInvalid, which, version, service, service)
	}
	return r, err
}

// bisectInput reads the range of b from the store: the releases after
// Good up to Bad, with their migrations, and those after Bad up to what
// the environment ran when the bisect started.
func (e *Engine) bisectInput(ctx context.Context, tx store.Tx, b pipeline.Bisect) (pipeline.BisectInput, map[string]pipeline.Release, error) {
	in := pipeline.BisectInput{Tried: b.Tried}
	good, err := tx.ReleaseGet(ctx, b.Service, b.Good)
	if err != nil {
		return in, nil, err
	}
	bad, err := tx.ReleaseGet(ctx, b.Service, b.Bad)
	if err != nil {
		return in, nil, err
	}
	var top int64 = bad.ID
	if b.ReturnTo != "" {
		if r, err := tx.ReleaseGet(ctx, b.Service, b.ReturnTo); err == nil && r.ID > top {
			top = r.ID
		}
	}
	rels, err := tx.ReleaseList(ctx, &store.ReleaseListParams{Service: b.Service, AfterID: good.ID, UpToID: top, Limit: maxBisectRange + 1})
	if err != nil {
		return in, nil, err
	}
	if len(rels) > maxBisectRange {
		return in, nil, fmt.Errorf("%w: more than %d releases between %s and %s: bisect a narrower range", ErrInvalid, maxBisectRange, b.Good, b.Bad)
	}
	byVersion := map[string]pipeline.Release{}
	for _, r := range sortedByID(rels) {
		if r.ID <= good.ID || r.ID > top {
			continue
		}
		migs, err := tx.ReleaseMigrations(ctx, r.ID)
		if err != nil {
			return in, nil, err
		}
		br := pipeline.BisectRelease{Version: r.Version, Migrations: migs}
		if r.ID <= bad.ID {
			in.Releases = append(in.Releases, br)
		} else {
			in.Newer = append(in.Newer, br)
		}
		byVersion[r.Version] = r
	}
	return in, byVersion, nil
}

func sortedByID(rels []pipeline.Release) []pipeline.Release {
	out := append([]pipeline.Release(nil), rels...)
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out
}

// bisectStep takes b's next step in tx (which holds the service lock): a
// probe (its deployment, or its check's job when the environment runs the
// version already), the culprit, or the end of a stuck search.
func (e *Engine) bisectStep(ctx context.Context, tx store.Tx, b pipeline.Bisect, now time.Time) error {
	in, rels, err := e.bisectInput(ctx, tx, b)
	if err != nil {
		return err
	}
	step := pipeline.NextBisectStep(in)
	switch step.Kind {
	case pipeline.StepCulprit:
		return e.bisectCulprit(ctx, tx, b, step, rels[step.Version], now)
	case pipeline.StepStuck:
		return e.bisectEnd(ctx, tx, b, pipeline.BisectStuck, step.Good, step.Reason, EventBisectStuck, pipeline.ActorSystem, now)
	}
	svc, ok := e.Config().Service(b.Service)
	if !ok {
		return e.bisectEnd(ctx, tx, b, pipeline.BisectStuck, step.Good, b.Service+" left the configuration", EventBisectStuck, pipeline.ActorSystem, now)
	}
	st, err := e.stateOf(ctx, tx, svc)
	if err != nil {
		return err
	}
	es := pipeline.Decide(st, now).Environments[0]
	if len(es.Locks) > 0 {
		l := es.Locks[0]
		why := fmt.Sprintf("%s was locked by %s (%s) before %s could be probed: the lock holds, so the bisect stops here",
			b.Environment, l.Actor, l.Reason, step.Version)
		return e.bisectEnd(ctx, tx, b, pipeline.BisectStuck, step.Good, why, EventBisectStuck, pipeline.ActorSystem, now)
	}
	if len(b.Tried) == 0 && b.Deploys == 0 && es.Active == nil {
		// Before the first probe deploy, what the environment runs now is
		// what it returns to: a deployment in progress when the bisect
		// started has ended meanwhile.
		b.ReturnTo = versionOf(es.Current)
	}
	b.Probe, b.ProbeDeployment, b.UpdatedAt = step.Version, 0, now
	var job store.Job
	switch {
	case es.Active != nil:
		// Someone else's deployment (one started before the bisect, or a
		// person's command): look again once it has had time to end.
		job = bisectStepJob(b, now.Add(bisectBusyRetry).UTC().Truncate(time.Millisecond))
	case es.Current != nil && es.Current.Version == step.Version:
		job = bisectCheckJob(b, step.Version)
	default:
		rel := rels[step.Version]
		from := ""
		if es.Current != nil {
			from = es.Current.Version
		}
		reason := fmt.Sprintf("bisect %d: probe %s with check %s", b.ID, step.Version, b.Check)
		dep, err := tx.DeploymentInsert(ctx, &store.DeploymentInsertParams{Service: b.Service, Environment: b.Environment,
			ReleaseID: rel.ID, Kind: pipeline.KindBisect, Actor: pipeline.ActorSystem, Reason: reason, CreatedAt: now})
		if err != nil {
			return err
		}
		if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventPromotionDecided, Service: b.Service,
			Environment: b.Environment, Version: step.Version, FromVersion: from, ToVersion: step.Version, Actor: pipeline.ActorSystem,
			Reason: reason, DeploymentID: dep.ID, Data: map[string]any{"bisect_id": b.ID}}); err != nil {
			return err
		}
		b.ProbeDeployment = dep.ID
		b.Deploys++
		job = deployJob(dep.ID, dep.Attempt)
	}
	if _, err := tx.BisectUpdate(ctx, &b); err != nil {
		return err
	}
	return tx.JobInsert(ctx, job)
}

// bisectAfterDeploy is what the end of a bisect's deployment writes in its
// transaction: a probe that deployed gets its check's job; a probe whose
// deploy failed ends the bisect (it cannot tell anything about that
// release).
func (e *Engine) bisectAfterDeploy(dep pipeline.Deployment, runErr error) func(ctx context.Context, tx store.Tx, now time.Time) error {
	return func(ctx context.Context, tx store.Tx, now time.Time) error {
		bs, err := tx.BisectList(ctx, &store.BisectListParams{Service: dep.Service, Running: true, Limit: 1})
		if err != nil || len(bs) == 0 || bs[0].ProbeDeployment != dep.ID {
			return err // a return to the version before, or a bisect that ended
		}
		b := bs[0]
		if runErr != nil {
			return e.bisectEnd(ctx, tx, b, pipeline.BisectStuck, bisectGood(b),
				fmt.Sprintf("the probe deployment of %s failed, so its check tells nothing: %s", dep.Version, e.masker.Mask(runErr.Error())),
				EventBisectStuck, pipeline.ActorSystem, now)
		}
		return tx.JobInsert(ctx, bisectCheckJob(b, dep.Version))
	}
}

// bisectGood is the newest version a bisect found healthy, or its good
// version.
func bisectGood(b pipeline.Bisect) string {
	good := ""
	for _, p := range b.Tried {
		if p.Outcome == pipeline.CheckHealthy {
			good = p.Version // probes of healthy releases only move up
		}
	}
	return good
}

// runBisectCheck runs b's check Repeat times against the version its
// environment runs, then records the probe and takes the next step in one
// unit of work. A crash while the check runs leaves the job to be rescued
// and run again: the probe is recorded once, by the first run to finish.
func (e *Engine) runBisectCheck(ctx context.Context, id int64, version string) error {
	b, err := e.store.BisectGet(ctx, id)
	if err != nil {
		return fmt.Errorf("error running the check of bisect %d: %w", id, err)
	}
	if b.State.IsTerminal() || b.Probe != version {
		return nil
	}
	svc, ok := e.Config().Service(b.Service)
	var runs, reasons []string
	if ok {
		spec, found := bisectCheckSpec(svc, b.Check)
		if !found {
			runs, reasons = []string{pipeline.CheckInconclusive}, []string{"check " + b.Check + " left the configuration"}
		} else {
			checker, err := e.newChecker(spec)
			if err != nil {
				return fmt.Errorf("error making check %s of bisect %d: %w", b.Check, id, err)
			}
			for k := 0; k < b.Repeat; k++ {
				res := checker.Check(ctx)
				if ctx.Err() != nil {
					return ctx.Err() // stopped: the job runs again
				}
				runs = append(runs, string(res.Outcome))
				reasons = append(reasons, e.forViewers("bisect check result", res.Reason, "service", b.Service, "check", b.Check, "version", version))
			}
		}
	}
	return e.mutate(context.WithoutCancel(ctx), b.Service, func(u *unit) error {
		b, err := u.tx.BisectGet(ctx, id)
		if err != nil || b.State.IsTerminal() || b.Probe != version {
			return err
		}
		if !ok {
			return e.bisectEnd(ctx, u.tx, b, pipeline.BisectStuck, bisectGood(b), b.Service+" left the configuration", EventBisectStuck, pipeline.ActorSystem, u.now)
		}
		outcome := pipeline.ProbeOutcome(runs)
		evidence := ""
		if len(reasons) > 0 {
			evidence = reasons[len(reasons)-1]
		}
		for k, r := range runs {
			if r == pipeline.CheckFailing {
				evidence = reasons[k] // the first failing run is the evidence
				break
			}
		}
		p := pipeline.BisectProbe{Version: version, Outcome: outcome, Runs: runs, Evidence: evidence, Deployed: b.ProbeDeployment != 0, At: u.now}
		b.Tried = append(b.Tried, p)
		b.Probe, b.ProbeDeployment, b.UpdatedAt = "", 0, u.now
		if err := u.event(&pipeline.Event{Type: EventBisectProbed, Service: b.Service, Environment: b.Environment, Version: version,
			Actor: pipeline.ActorSystem, Reason: fmt.Sprintf("check %s on %s: %s (runs: %v; probe %d)", b.Check, version, outcome, runs, len(b.Tried)),
			Data: map[string]any{"bisect_id": b.ID, "check": b.Check, "outcome": outcome, "runs": runs, "evidence": evidence}}); err != nil {
			return err
		}
		e.log.Info("bisect probed", "service", b.Service, "bisect", b.ID, "version", version, "outcome", outcome, "runs", runs)
		b, err = u.tx.BisectUpdate(ctx, &b)
		if err != nil {
			return err
		}
		return e.bisectStep(ctx, u.tx, b, u.now)
	})
}

// bisectCulprit rejects the culprit (rule 7) with an event naming the
// check and the evidence, and ends the bisect.
func (e *Engine) bisectCulprit(ctx context.Context, tx store.Tx, b pipeline.Bisect, step pipeline.BisectStep, rel pipeline.Release, now time.Time) error {
	evidence := ""
	for _, p := range b.Tried {
		if p.Version == step.Version {
			evidence = p.Evidence
		}
	}
	data := map[string]any{"bisect_id": b.ID, "check": b.Check, "evidence": evidence, "good": step.Good,
		"probes": len(b.Tried), "deploys": b.Deploys}
	reason := fmt.Sprintf("bisect %d found %s: %s; check %s: %s", b.ID, step.Version, step.Reason, b.Check, evidence)
	if !rel.Rejected {
		if err := tx.ReleaseReject(ctx, rel.ID); err != nil {
			return err
		}
		if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventReleaseRejected, Service: b.Service,
			Environment: b.Environment, Version: step.Version, Actor: pipeline.ActorSystem, Reason: reason, Data: data}); err != nil {
			return err
		}
	}
	if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: EventBisectCulprit, Service: b.Service,
		Environment: b.Environment, Version: step.Version, Actor: pipeline.ActorSystem, Reason: reason, Data: data}); err != nil {
		return err
	}
	b.Culprit = step.Version
	e.log.Warn("bisect found the culprit", "service", b.Service, "bisect", b.ID, "version", step.Version, "check", b.Check)
	return e.bisectEnd(ctx, tx, b, pipeline.BisectFound, step.Good, step.Reason, "", pipeline.ActorSystem, now)
}

// bisectEnd ends b in state with result, and returns its environment to
// what it ran before (or to the newest good release, when asked): a
// deployment of kind bisect, unless it runs that already or is locked. A
// probe deployment still in progress (a cancel) is cancelled first.
func (e *Engine) bisectEnd(ctx context.Context, tx store.Tx, b pipeline.Bisect, state pipeline.BisectState, good, result, eventType, actor string, now time.Time) error {
	target := b.ReturnTo
	if b.RestoreGood {
		target = good
		if target == "" {
			target = b.Good
		}
	}
	if b.ProbeDeployment != 0 {
		if dep, err := tx.DeploymentGet(ctx, b.ProbeDeployment); err == nil && dep.State.IsActive() {
			if err := e.cancelActive(ctx, tx, b.Service, b.Environment, actor, "bisect "+string(state), now); err != nil {
				return err
			}
		}
	}
	b.State, b.Probe, b.ProbeDeployment, b.UpdatedAt, b.EndedAt = state, "", 0, now, now
	b.Result = result
	if svc, ok := e.Config().Service(b.Service); ok && target != "" {
		st, err := e.stateOf(ctx, tx, svc)
		if err != nil {
			return err
		}
		es := pipeline.Decide(st, now).Environments[0]
		switch {
		case es.Current != nil && es.Current.Version == target && es.Active == nil:
			b.Result += "; " + b.Environment + " runs " + target + " as before"
		case len(es.Locks) > 0:
			b.Result += fmt.Sprintf("; %s stays at %s: it is locked by %s, so it does not return to %s", b.Environment,
				versionOf(es.Current), es.Locks[0].Actor, target)
		case es.Active != nil:
			b.Result += fmt.Sprintf("; %s has a deployment of %s in progress, so it does not return to %s", b.Environment, es.Active.Version, target)
		default:
			rel, err := tx.ReleaseGet(ctx, b.Service, target)
			if err != nil {
				return err
			}
			reason := fmt.Sprintf("bisect %d ended: %s returns to %s", b.ID, b.Environment, target)
			dep, err := tx.DeploymentInsert(ctx, &store.DeploymentInsertParams{Service: b.Service, Environment: b.Environment,
				ReleaseID: rel.ID, Kind: pipeline.KindBisect, Actor: pipeline.ActorSystem, Reason: reason, CreatedAt: now})
			if err != nil {
				return err
			}
			if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventPromotionDecided, Service: b.Service,
				Environment: b.Environment, Version: target, FromVersion: versionOf(es.Current), ToVersion: target,
				Actor: pipeline.ActorSystem, Reason: reason, DeploymentID: dep.ID, Data: map[string]any{"bisect_id": b.ID}}); err != nil {
				return err
			}
			if err := tx.JobInsert(ctx, deployJob(dep.ID, dep.Attempt)); err != nil {
				return err
			}
			b.Deploys++
			b.Result += "; " + b.Environment + " returns to " + target
		}
	}
	if eventType != "" {
		if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: eventType, Service: b.Service, Environment: b.Environment,
			Actor: actor, Reason: b.Result, Data: map[string]any{"bisect_id": b.ID, "check": b.Check}}); err != nil {
			return err
		}
	}
	e.log.Info("bisect ended", "service", b.Service, "bisect", b.ID, "state", state, "result", b.Result)
	_, err := tx.BisectUpdate(ctx, &b)
	return err
}

func versionOf(r *pipeline.Release) string {
	if r == nil {
		return ""
	}
	return r.Version
}

// CancelBisect ends a running bisect; its environment returns to what it
// ran before.
func (e *Engine) CancelBisect(ctx context.Context, actor, service string, id int64, reason string) (pipeline.Bisect, error) {
	if _, err := e.Service(service); err != nil {
		return pipeline.Bisect{}, err
	}
	if reason == "" {
		reason = "cancelled by " + actor
	}
	if err := validText("reason", reason, maxReason); err != nil {
		return pipeline.Bisect{}, err
	}
	var b pipeline.Bisect
	err := e.mutate(ctx, service, func(u *unit) error {
		var err error
		b, err = u.tx.BisectGet(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && b.Service != service) {
			return fmt.Errorf("%w: %s has no bisect %d", ErrNotFound, service, id)
		}
		if err != nil {
			return err
		}
		if b.State.IsTerminal() {
			return fmt.Errorf("%w: bisect %d has ended already (%s)", ErrConflict, id, b.State)
		}
		if err := e.bisectEnd(ctx, u.tx, b, pipeline.BisectCancelled, bisectGood(b), reason, EventBisectCancelled, actor, u.now); err != nil {
			return err
		}
		b, err = u.tx.BisectGet(ctx, id)
		return err
	})
	return b, err
}

// Bisect returns one of service's bisects.
func (e *Engine) Bisect(ctx context.Context, service string, id int64) (pipeline.Bisect, error) {
	if _, err := e.Service(service); err != nil {
		return pipeline.Bisect{}, err
	}
	b, err := e.store.BisectGet(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && b.Service != service) {
		return b, fmt.Errorf("%w: %s has no bisect %d", ErrNotFound, service, id)
	}
	return b, err
}

// Bisects lists service's bisects, newest first.
func (e *Engine) Bisects(ctx context.Context, service string, limit int) ([]pipeline.Bisect, error) {
	if _, err := e.Service(service); err != nil {
		return nil, err
	}
	return e.store.BisectList(ctx, &store.BisectListParams{Service: service, Limit: limit})
}

// bisectBelow is the ID of the deployment that put the release below env
// there (0 if none), read before a check of env runs, for bisectUnsure.
func (e *Engine) bisectBelow(ctx context.Context, service, env string) int64 {
	svc, i, err := e.environment(service, env)
	if err != nil || i == 0 {
		return 0
	}
	deps, err := e.store.DeploymentList(ctx, &store.DeploymentListParams{Service: service, Environment: svc.Environments[i-1].Name,
		States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}, Limit: 1})
	if err != nil || len(deps) == 0 {
		return 0
	}
	return deps[0].ID
}

// bisectUnsure says why a bake check's result cannot be recorded against
// the release environment lower runs now, because of a bisect: one is
// running (the check watched a probe), its return deployment is still in
// progress (lower runs the last probe), or one of its deployments came or
// went while the check ran (ranOn is the deployment that was current
// when it started). "" when it can be recorded. A bake check that judged
// a probe would mark the wrong release failed and start another bisect.
func bisectUnsure(st pipeline.State, d pipeline.Decision, lower int, ranOn int64) string {
	if st.Bisect != nil && !st.Bisect.State.IsTerminal() {
		return "a bisect is running"
	}
	es := d.Environments[lower]
	if es.Active != nil && es.Active.Kind == pipeline.KindBisect {
		return "a bisect's return deployment is in progress"
	}
	var cur *pipeline.Deployment
	for k := len(st.Deployments) - 1; k >= 0; k-- {
		if dep := st.Deployments[k]; dep.Environment == es.Name && dep.State == pipeline.DeploymentSucceeded {
			if cur == nil || dep.ID > cur.ID {
				cur = &st.Deployments[k]
			}
		}
	}
	if cur != nil && cur.ID != ranOn && cur.Kind == pipeline.KindBisect {
		return "a bisect deployment finished while the check ran"
	}
	for _, dep := range st.Deployments {
		if dep.ID == ranOn && dep.Kind == pipeline.KindBisect && (cur == nil || cur.ID != ranOn) {
			return "the check started on a bisect's probe"
		}
	}
	return ""
}
