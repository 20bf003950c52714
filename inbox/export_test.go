package inbox

// RecentSendingSQL and RecentSendingPlan are RecentSending's statement and
// the settings its transaction opens with (for the plan test).
var (
	RecentSendingSQL  = recentSendingSQL
	RecentSendingPlan = recentSendingPlan
)
