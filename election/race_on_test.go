//go:build race

package election

// raceEnabled reports a -race build: the simulator runs fewer schedules,
// the race detector makes each about ten times slower.
const raceEnabled = true

// simSchedulesRace is TestSim's default schedule count under -race.
const simSchedulesRace = 2000
