package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fixWorld: production (bake 1h, fix lane 10m / 1 approval) is locked;
// v1 runs everywhere; v2 (a normal release) and v3 (a fix created by
// token 7, "ana") run in staging since t0.
func fixWorld() *world {
	w := newWorld(time.Hour, "staging", "production")
	w.st.Environments[1].Fix = &FixLane{Bake: 10 * time.Minute, Approvals: 1}
	w.release("v1").release("v2").release("v3")
	w.st.Releases[2].Fix, w.st.Releases[2].Creator, w.st.Releases[2].CreatorTokenID = true, "ana", 7
	w.deployed("staging", "v1", DeploymentSucceeded, t0.Add(-2*time.Hour))
	w.deployed("production", "v1", DeploymentSucceeded, t0.Add(-2*time.Hour))
	w.deployed("staging", "v2", DeploymentSucceeded, t0)
	w.deployed("staging", "v3", DeploymentSucceeded, t0)
	w.lock("web", "production", t0, time.Time{})
	return w
}

func (w *world) approve(env, version, actor string, token int64) *world {
	w.st.Approvals = append(w.st.Approvals, Approval{ID: int64(len(w.st.Approvals) + 1), Service: "web", Environment: env,
		ReleaseID: w.rid(version), Actor: actor, TokenID: token, Reason: "looked at it", CreatedAt: t0})
	return w
}

func TestDecideFixLane(t *testing.T) {
	tests := []struct {
		name    string
		w       func() *world
		at      time.Duration // after t0
		want    map[string]string
		wait    WaitKind
		message string // part of production's wait message or promotion reason
	}{
		{name: "a fix without approval waits for the lock, and says what it needs", w: fixWorld, at: 15 * time.Minute,
			want: map[string]string{}, wait: WaitLock,
			message: "fix v3 may pass the lock after 1 more approval by someone other than its creator ana (bakery approve web production v3 --reason R)"},
		{name: "the creator's own approval does not count", w: func() *world { return fixWorld().approve("production", "v3", "ana", 7) },
			at: 15 * time.Minute, want: map[string]string{}, wait: WaitLock, message: "1 more approval"},
		{name: "the creator under another name, same token, does not count", w: func() *world { return fixWorld().approve("production", "v3", "ana-laptop", 7) },
			at: 15 * time.Minute, want: map[string]string{}, wait: WaitLock},
		{name: "an approval for staging does not count for production", w: func() *world { return fixWorld().approve("staging", "v3", "bo", 8) },
			at: 15 * time.Minute, want: map[string]string{}, wait: WaitLock},
		{name: "approved but its fix bake is not over", w: func() *world { return fixWorld().approve("production", "v3", "bo", 8) },
			at: 5 * time.Minute, want: map[string]string{}, wait: WaitLock, message: "fix v3 passes the lock when its fix bake ends at 2026-11-25T12:10:00Z"},
		{name: "approved by another and baked 10m: the fix passes the lock", w: func() *world { return fixWorld().approve("production", "v3", "bo", 8) },
			at: 15 * time.Minute, want: map[string]string{"production": "v3"}, wait: WaitDeployment,
			message: "fix v3 baked in staging for its fix bake of 10m0s and was approved by bo; it passes the lock by"},
		{name: "the lock stays for a normal release, even baked", w: func() *world {
			w := fixWorld().approve("production", "v2", "bo", 8)
			w.st.Releases[2].Fix = false
			return w
		}, at: 2 * time.Hour, want: map[string]string{}, wait: WaitLock},
		{name: "no fix lane: a fix release waits like any other", w: func() *world {
			w := fixWorld().approve("production", "v3", "bo", 8)
			w.st.Environments[1].Fix = nil
			return w
		}, at: 2 * time.Hour, want: map[string]string{}, wait: WaitLock},
		{name: "unlocked: an approved fix has the shorter bake", w: func() *world {
			w := fixWorld().approve("production", "v3", "bo", 8)
			w.st.Locks = nil
			return w
		}, at: 15 * time.Minute, want: map[string]string{"production": "v3"}, wait: WaitDeployment, message: "fix v3"},
		{name: "unlocked: an unapproved fix bakes the full hour", w: func() *world {
			w := fixWorld()
			w.st.Locks = nil
			return w
		}, at: 15 * time.Minute, want: map[string]string{}, wait: WaitBake},
		{name: "an approved fix passes by the fix lane with no use seen below: exposure does not hold it", w: func() *world {
			w := fixWorld().approve("production", "v3", "bo", 8)
			w.st.Environments[1].Exposure = &Exposure{Requests: 500, People: 3}
			return w
		}, at: 15 * time.Minute, want: map[string]string{"production": "v3"}, wait: WaitDeployment, message: "fix v3"},
		{name: "unlocked, the same: the fix lane's shorter bake is not held by exposure either", w: func() *world {
			w := fixWorld().approve("production", "v3", "bo", 8)
			w.st.Locks = nil
			w.st.Environments[1].Exposure = &Exposure{Requests: 500, People: 3}
			return w
		}, at: 15 * time.Minute, want: map[string]string{"production": "v3"}, wait: WaitDeployment, message: "fix v3"},
		{name: "unlocked, exposure asked and none seen: a normal release waits for use after its bake", w: func() *world {
			w := fixWorld()
			w.st.Locks = nil
			w.st.Releases[2].Fix = false
			w.st.Environments[1].Exposure = &Exposure{Requests: 500}
			return w
		}, at: 2 * time.Hour, want: map[string]string{}, wait: WaitExposure, message: "0 of 500 requests"},
		{name: "a fix that failed its bake never passes", w: func() *world {
			w := fixWorld().approve("production", "v3", "bo", 8)
			w.st.Marks = append(w.st.Marks, Mark{ReleaseID: w.rid("v3"), Environment: "production", Kind: MarkFailedBake})
			return w
		}, at: 15 * time.Minute, want: map[string]string{}, wait: WaitLock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.w().st, t0.Add(tt.at))
			require.Equal(t, tt.want, promoted(d))
			prod := d.Environments[1]
			require.Equal(t, tt.wait, prod.Wait.Kind, prod.Wait.Message)
			msg := prod.Wait.Message
			for _, p := range d.Promotions {
				msg += " " + p.Reason
				require.True(t, p.Fix)
			}
			require.Contains(t, msg, tt.message)
			require.Equal(t, "staging", d.Environments[0].Name)
			require.Empty(t, d.Environments[0].Locks, "staging is never held by production's lock (rule 1)")
		})
	}
}

func TestDecideApprovalGate(t *testing.T) {
	base := func() *world {
		w := newWorld(time.Hour, "staging", "production")
		w.st.Environments[1].Approval = &ApprovalGate{Count: 1, NotAuthor: true}
		w.release("v1").release("v2")
		w.deployed("staging", "v1", DeploymentSucceeded, t0.Add(-3*time.Hour))
		w.deployed("production", "v1", DeploymentSucceeded, t0.Add(-3*time.Hour))
		w.deployed("staging", "v2", DeploymentSucceeded, t0)
		return w // v2's author is "" in world; set per case
	}
	withAuthor := func(w *world) *world { w.st.Releases[1].Author = "ana"; return w }
	tests := []struct {
		name    string
		w       func() *world
		at      time.Duration
		want    map[string]string
		wait    WaitKind
		message string
	}{
		{name: "baking: the bake first", w: func() *world { return withAuthor(base()) }, at: 30 * time.Minute, want: map[string]string{}, wait: WaitBake},
		{name: "baked: waits for an approval and says who may give it", w: func() *world { return withAuthor(base()) }, at: 2 * time.Hour,
			want: map[string]string{}, wait: WaitApproval,
			message: "v2 is ready and waits for 1 approval into production: any deployer but its author ana may approve (bakery approve web production v2 --reason R)"},
		{name: "the author's approval does not count", w: func() *world { return withAuthor(base()).approve("production", "v2", "ana", 3) },
			at: 2 * time.Hour, want: map[string]string{}, wait: WaitApproval, message: "waits for 1 approval into production"},
		{name: "approved by another: promoted", w: func() *world { return withAuthor(base()).approve("production", "v2", "bo", 4) },
			at: 2 * time.Hour, want: map[string]string{"production": "v2"}, wait: WaitDeployment},
		{name: "approved, but locked: the lock holds", w: func() *world {
			return withAuthor(base()).approve("production", "v2", "bo", 4).lock("web", "production", t0, time.Time{})
		}, at: 2 * time.Hour, want: map[string]string{}, wait: WaitLock},
		{name: "approved, but the window is closed", w: func() *world {
			w := withAuthor(base()).approve("production", "v2", "bo", 4)
			w.st.Environments[1].Window = closedWindow{opens: t0.Add(5 * time.Hour)}
			return w
		}, at: 2 * time.Hour, want: map[string]string{}, wait: WaitWindow},
		{name: "two needed", w: func() *world {
			w := withAuthor(base()).approve("production", "v2", "bo", 4)
			w.st.Environments[1].Approval.Count = 2
			return w
		}, at: 2 * time.Hour, want: map[string]string{}, wait: WaitApproval, message: "waits for 1 approval into production: any deployer but its author ana may approve (bakery approve web production v2 --reason R); approved so far by bo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.w().st, t0.Add(tt.at))
			require.Equal(t, tt.want, promoted(d))
			require.Equal(t, tt.wait, d.Environments[1].Wait.Kind, d.Environments[1].Wait.Message)
			require.Contains(t, d.Environments[1].Wait.Message, tt.message)
		})
	}
}

// closedWindow is closed until opens.
type closedWindow struct{ opens time.Time }

func (c closedWindow) Open(t time.Time) bool { return !t.Before(c.opens) }
func (c closedWindow) NextOpen(t time.Time) (time.Time, bool) {
	if c.Open(t) {
		return t, true
	}
	return c.opens, true
}

// TestQueueFixLane: the queue shows an approved fix's shorter bake, and
// the fix baked once it is over, by the same rule Decide uses.
func TestQueueFixLane(t *testing.T) {
	w := fixWorld().approve("production", "v3", "bo", 8)
	at := func(d time.Duration) QueueEntry {
		for _, e := range Queue(w.st, 1, t0.Add(d)) {
			if e.Release.Version == "v3" {
				return e
			}
		}
		t.Fatal("v3 not in the queue")
		return QueueEntry{}
	}
	require.Equal(t, ReleaseBaking, at(5*time.Minute).State)
	require.Equal(t, t0.Add(10*time.Minute), at(5*time.Minute).BakeEnd)
	require.Equal(t, ReleaseBaked, at(15*time.Minute).State)
	unapproved := fixWorld()
	for _, e := range Queue(unapproved.st, 1, t0.Add(15*time.Minute)) {
		if e.Release.Version == "v3" {
			require.Equal(t, ReleaseBaking, e.State)
			require.Equal(t, t0.Add(time.Hour), e.BakeEnd)
		}
	}
}
