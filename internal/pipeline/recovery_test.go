package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDecideRecovery(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	pending := func(attempt int, created time.Time) Deployment {
		return Deployment{ID: 7, State: DeploymentPending, Attempt: attempt, CreatedAt: created}
	}
	running := func(attempt int, heartbeat time.Time) Deployment {
		return Deployment{ID: 7, State: DeploymentRunning, Attempt: attempt, CreatedAt: ago(time.Hour),
			StartedAt: ago(time.Hour), Heartbeat: heartbeat}
	}
	cases := []struct {
		name   string
		in     RecoveryInput
		assert func(t *testing.T, d RecoveryDecision)
	}{
		{
			name: "pending whose job is held by a dead worker is retried at once",
			in:   RecoveryInput{Deployment: pending(1, ago(time.Second)), Job: JobRunningDead},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryRetry, d.Action)
				require.False(t, d.Interrupted)
				require.Equal(t, 2, d.Attempt)
				require.Contains(t, d.Reason, "died before starting it")
				require.Contains(t, d.Reason, "starting attempt 2 of 3")
			},
		},
		{
			name: "pending whose job is held by a live worker is left alone, however old",
			in:   RecoveryInput{Deployment: pending(1, ago(time.Hour)), Job: JobRunningLive},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryLeave, d.Action)
				require.Contains(t, d.Reason, "live worker")
			},
		},
		{
			name: "pending whose job waits for a worker is left alone, however old",
			in:   RecoveryInput{Deployment: pending(1, ago(time.Hour)), Job: JobAvailable},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryLeave, d.Action)
				require.Contains(t, d.Reason, "free worker")
			},
		},
		{
			name: "pending older than the pending timeout with no job is retried",
			in:   RecoveryInput{Deployment: pending(1, ago(2*time.Minute)), Job: JobNone},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryRetry, d.Action)
				require.Equal(t, 2, d.Attempt)
				require.Contains(t, d.Reason, "with no job to run it (job none)")
			},
		},
		{
			name: "pending older than the pending timeout whose job was discarded is retried",
			in:   RecoveryInput{Deployment: pending(2, ago(2*time.Minute)), Job: JobDiscarded},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryRetry, d.Action)
				require.Equal(t, 3, d.Attempt)
			},
		},
		{
			name: "pending older than the pending timeout whose job completed is retried",
			in:   RecoveryInput{Deployment: pending(1, ago(2*time.Minute)), Job: JobCompleted},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryRetry, d.Action)
			},
		},
		{
			name: "pending younger than the pending timeout with no job is left alone",
			in:   RecoveryInput{Deployment: pending(1, ago(10*time.Second)), Job: JobNone},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryLeave, d.Action)
				require.Contains(t, d.Reason, "less than the pending timeout")
			},
		},
		{
			name: "a retried pending deployment counts its wait from the last heartbeat",
			in: RecoveryInput{Deployment: Deployment{State: DeploymentPending, Attempt: 2, CreatedAt: ago(time.Hour),
				StartedAt: ago(time.Hour), Heartbeat: ago(10 * time.Second)}, Job: JobNone},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryLeave, d.Action)
			},
		},
		{
			name: "running with a silent heartbeat is interrupted and retried",
			in:   RecoveryInput{Deployment: running(1, ago(30*time.Second)), Job: JobRunningDead},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryRetry, d.Action)
				require.True(t, d.Interrupted)
				require.Equal(t, 2, d.Attempt)
				require.Contains(t, d.Reason, "the worker running attempt 1 stopped (silent for 30s)")
				require.Contains(t, d.Reason, "starting attempt 2 of 3")
			},
		},
		{
			name: "running with a silent heartbeat is interrupted whatever the job queue says",
			in:   RecoveryInput{Deployment: running(1, ago(30*time.Second)), Job: JobRunningLive},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryRetry, d.Action)
				require.True(t, d.Interrupted)
			},
		},
		{
			name: "running with a fresh heartbeat is left alone",
			in:   RecoveryInput{Deployment: running(1, ago(time.Second)), Job: JobRunningLive},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryLeave, d.Action)
				require.Contains(t, d.Reason, "heart-beating")
			},
		},
		{
			name: "running with a fresh heartbeat is left alone even if its job looks dead",
			in:   RecoveryInput{Deployment: running(1, ago(time.Second)), Job: JobRunningDead},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryLeave, d.Action)
			},
		},
		{
			name: "a canary being observed is never taken for interrupted",
			in:   RecoveryInput{Deployment: running(1, ago(time.Hour)), Job: JobCompleted, CanaryObserved: true},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryLeave, d.Action)
				require.Contains(t, d.Reason, "canary")
			},
		},
		{
			name: "running silent on its last attempt gives up",
			in:   RecoveryInput{Deployment: running(3, ago(30*time.Second)), Job: JobRunningDead},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryGiveUp, d.Action)
				require.True(t, d.Interrupted)
				require.Contains(t, d.Reason, "giving up after 3 attempts")
			},
		},
		{
			name: "pending stranded on its last attempt gives up",
			in:   RecoveryInput{Deployment: pending(3, ago(time.Second)), Job: JobRunningDead},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryGiveUp, d.Action)
				require.False(t, d.Interrupted)
				require.Contains(t, d.Reason, "giving up after 3 attempts")
			},
		},
		{
			name: "a smaller attempt cap is honoured",
			in:   RecoveryInput{Deployment: running(1, ago(30*time.Second)), MaxAttempts: 1},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryGiveUp, d.Action)
				require.Contains(t, d.Reason, "after 1 attempts")
			},
		},
		{
			name: "a finished deployment is left alone",
			in:   RecoveryInput{Deployment: Deployment{State: DeploymentSucceeded, Attempt: 1}, Job: JobRunningDead},
			assert: func(t *testing.T, d RecoveryDecision) {
				require.Equal(t, RecoveryLeave, d.Action)
				require.Contains(t, d.Reason, "ended")
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := tc.in
			in.Now = now
			if in.HeartbeatTimeout == 0 {
				in.HeartbeatTimeout = 10 * time.Second
			}
			if in.PendingTimeout == 0 {
				in.PendingTimeout = time.Minute
			}
			tc.assert(t, DecideRecovery(in))
		})
	}
}
