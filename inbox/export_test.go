package inbox

import "time"

// The statements and transaction settings the plan tests check.
var (
	// ReleaseStaleSQL and ReleasePlan: ReleaseDeadClaims (owners_test.go).
	ReleaseStaleSQL = releaseStaleSQL
	ReleasePlan     = releasePlan
	// RecentSendingSQL and RecentSendingPlan: RecentSending.
	RecentSendingSQL  = recentSendingSQL
	RecentSendingPlan = recentSendingPlan
	// BatchStatements and PlanFor: the batch statements and the settings
	// their transactions open with.
	BatchStatements = map[string]string{
		"enqueue (plain)": enqueuePlainSQL, "enqueue (quota)": enqueueQuotaSQL,
		"record submits": recordSubmitsSQL, "requeue": requeueSQL,
		"apply receipts": applyReceiptsSQL, "append inbound": appendInboundSQL,
	}
	PlanFor = planFor
	// ListNumbersSQL: ListNumbers and FindNumber (numbers_test.go).
	ListNumbersSQL  = listNumbersSQL
	GenericPlanRows = genericPlanRows
)

// SetFoldStep sets how many transactions of the log one fold transaction
// of FoldUsage reads at most.
func SetFoldStep(s *Store, n uint64) { s.foldStep = n }

// UsageFoldApp is the application_name of FoldUsage's transactions.
const UsageFoldApp = usageFoldApp

// CompareCursors compares two cursors of the change feed in feed order.
func CompareCursors(a, b string) int {
	ka, err := parseFeedKey(a)
	if err != nil {
		panic(err)
	}
	kb, err := parseFeedKey(b)
	if err != nil {
		panic(err)
	}
	return ka.compare(kb)
}

// SetQuotaClock makes the quota periods (Enqueue, Quota, SetQuota) follow
// now instead of the database's clock.
func SetQuotaClock(s *Store, now func() time.Time) { s.quotaNow = now }

// ClaimSQL, ClaimPlan and ClaimWalk: the claim statement, the settings its
// transaction opens with, and how many numbers it walks.
var (
	ClaimSQL  = claimSQL
	ClaimPlan = claimPlan
	ClaimWalk = claimWalk
)
