package api

// The tests resolve IANA zones from the database embedded in the test
// binary, whatever the machine has; functions read the one their asset
// carries (ZONEINFO).
import _ "time/tzdata"
