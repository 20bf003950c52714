package inbox

// For the plan checks of owners_test.go.
var (
	ReleaseStaleSQL = releaseStaleSQL
	ReleasePlan     = releasePlan
)
