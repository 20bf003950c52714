package inbox

// The statements and transaction settings the plan tests check.
var (
	// ReleaseStaleSQL and ReleasePlan: ReleaseDeadClaims (owners_test.go).
	ReleaseStaleSQL = releaseStaleSQL
	ReleasePlan     = releasePlan
	// RecentSendingSQL and RecentSendingPlan: RecentSending.
	RecentSendingSQL  = recentSendingSQL
	RecentSendingPlan = recentSendingPlan
)
