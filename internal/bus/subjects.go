package bus

import (
	"regexp"
	"strconv"
)

// Everything Barrage keeps in NATS lives under these names.
const (
	// Bucket is the JetStream key-value bucket for runs, workers, shares
	// and claims. Keys:
	//
	//	runs.<run>               run record, leased by the coordinator
	//	workers.<run>.<worker>   worker presence, leased by the worker
	//	shares.<run>.<worker>    the share assigned to a worker, written by
	//	                         the coordinator
	//	claims.<run>.<index>     claim on a share, leased by its worker
	//	slots.<run>.<n>          one of the places of a launched fleet,
	//	                         leased by the launched worker that holds it
	Bucket = "barrage"

	// ReportStream is the JetStream stream that carries worker reports on
	// barrage.report.<run>.<worker>.
	ReportStream = "BARRAGE_REPORTS"

	reportPrefix = "barrage.report."
	grantPrefix  = "barrage.grant."
	usagePrefix  = "barrage.usage."
	statsPrefix  = "stats."
)

// idPattern matches run and worker ids. They are single subject tokens, so
// they carry no dots, spaces or wildcards.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidID reports whether s can be used as a run or worker id.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// RunKey returns the key of a run record.
func RunKey(run string) string { return "runs." + run }

// WorkerKey returns the key of a worker's presence in a run.
func WorkerKey(run, worker string) string { return "workers." + run + "." + worker }

// WorkersPattern returns the key filter matching every worker of a run.
func WorkersPattern(run string) string { return "workers." + run + ".*" }

// ShareKey returns the key of the share assigned to a worker.
func ShareKey(run, worker string) string { return "shares." + run + "." + worker }

// ClaimKey returns the key of a claim on a share.
func ClaimKey(run string, index int) string { return "claims." + run + "." + strconv.Itoa(index) }

// SlotKey returns the key of place n of a launched fleet, from 0 to the
// fleet's size minus one.
func SlotKey(run string, n int) string { return "slots." + run + "." + strconv.Itoa(n) }

// UsageSubject returns the subject that launched workers publish what they
// used of their platform to, such as the duration of a Lambda invocation.
func UsageSubject(run string) string { return usagePrefix + run }

// ReportSubject returns the subject a worker publishes its reports to.
func ReportSubject(run, worker string) string { return reportPrefix + run + "." + worker }

// ReportsPattern returns the subject filter matching every report of a run.
func ReportsPattern(run string) string { return reportPrefix + run + ".>" }

// GrantSubject returns the subject workers request iterations on.
func GrantSubject(run string) string { return grantPrefix + run }

// StatsSubject returns the subject of one kind of live statistics, such as
// stats.<run>.summary.
func StatsSubject(run, kind string) string { return statsPrefix + run + "." + kind }
