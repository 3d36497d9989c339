package regress

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// studentUpper returns P(T > t) for Student's t distribution with df degrees of freedom.
func studentUpper(t, df float64) float64 {
	switch {
	case math.IsNaN(t):
		return 1
	case math.IsInf(t, 1):
		return 0
	case math.IsInf(t, -1):
		return 1
	}
	tail := 0.5 * mathext.RegIncBeta(df/2, 0.5, df/(df+t*t)) // P(|T| > |t|) / 2
	if t > 0 {
		return tail
	}
	return 1 - tail
}
