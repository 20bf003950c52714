package bench

import (
	"context"
	"fmt"
)

// Run runs a scenario and returns its report, also written to sc.Out when
// set (see Report.WriteFiles). prog shows progress; nil shows none. The error is for a run that could not be made (a bind
// refused, no database); a run whose checks fail returns its report with
// them marked (Report.OK).
func Run(ctx context.Context, sc Scenario, prog *Progress) (*Report, error) {
	if err := sc.Check(); err != nil {
		return nil, err
	}
	rep := newReport(sc)
	var err error
	switch sc.Scenario {
	case ScenarioWindow:
		err = runWindow(ctx, sc, rep, prog)
	case ScenarioAdvise:
		err = runAdvise(ctx, sc, rep, prog)
	case ScenarioThrottle:
		err = runThrottle(ctx, sc, rep, prog)
	case ScenarioE2E:
		err = runE2E(ctx, sc, rep, prog)
	case ScenarioInbound:
		err = runInbound(ctx, sc, rep, prog)
	case ScenarioSoak:
		err = runSoak(ctx, sc, rep, prog)
	case ScenarioFairness:
		err = runFairness(ctx, sc, rep, prog)
	case ScenarioBacklog:
		err = runBacklog(ctx, sc, rep, prog)
	case ScenarioKannel:
		err = runKannel(ctx, sc, rep, prog)
	default:
		err = fmt.Errorf("unknown scenario %q", sc.Scenario)
	}
	rep.finish()
	if err != nil {
		return rep, err
	}
	if sc.Out != "" {
		if err := rep.WriteFiles(sc.Out); err != nil {
			return rep, err
		}
	}
	return rep, nil
}
