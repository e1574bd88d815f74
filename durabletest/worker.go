package durabletest

// StartWorker starts the environment's worker if it is not running (Start
// does so on first use). Tests that start work only through the client,
// such as schedules created with Client.CreateSchedule, call it; after
// Stop it starts the worker again, as a redeployment would.
func (e *Env) StartWorker() { e.ensureStarted() }
