package pipeline

// Transition is one move of a deployment's state machine.
type Transition struct {
	From, To DeploymentState
}

// DeploymentTransitions are the moves a deployment may make (a new one
// starts pending). docs/ARCHITECTURE.md's state diagram draws exactly these
// arrows; a doc test keeps the two in step.
var DeploymentTransitions = []Transition{
	{DeploymentPending, DeploymentRunning},   // a worker starts attempt N
	{DeploymentRunning, DeploymentSucceeded}, // the deploy command exits 0
	{DeploymentRunning, DeploymentFailed},    // non-zero exit, timeout, config gone; or recovery gave up
	{DeploymentRunning, DeploymentPending},   // interrupted: attempt N+1 (DecideRecovery)
	{DeploymentPending, DeploymentPending},   // recovered: attempt N+1 (DecideRecovery)
	{DeploymentPending, DeploymentFailed},    // recovery gave up (DecideRecovery)
	{DeploymentPending, DeploymentCancelled}, // a rollback or emergency deploy took its place
	{DeploymentRunning, DeploymentCancelled}, // the same, while it ran
}
