//go:build !race

package election

const raceEnabled = false

const simSchedulesRace = 2000
