package subsidy

import (
	"fmt"
	"strings"
)

// USCC check characters, from Protos/USCC.md.

// USCCAlphabet is GB 32100's 31 code characters in value order (no I, O, S, V, Z).
const USCCAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

var usccWeights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}
var organisationWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

// organisationCheck is the GB 11714 check character over the 8-character body: letters are worth
// A=10 ... Z=35 here (not their index in USCCAlphabet); 11 - sum mod 11, X for 10, 0 for 11.
func organisationCheck(body string) byte {
	sum := 0
	for i := 0; i < 8; i++ {
		c := body[i]
		v := int(c - '0')
		if c >= 'A' {
			v = int(c) - 55
		}
		sum += v * organisationWeights[i]
	}
	switch v := 11 - sum%11; v {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + v)
	}
}

// usccCheck is the GB 32100 check character over positions 1-17.
func usccCheck(prefix17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += strings.IndexByte(USCCAlphabet, prefix17[i]) * usccWeights[i]
	}
	return USCCAlphabet[(31-sum%31)%31]
}

func wellFormed(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < n; i++ {
		if strings.IndexByte(USCCAlphabet, s[i]) < 0 || (i >= 2 && i < 8 && (s[i] < '0' || s[i] > '9')) {
			return false
		}
	}
	return true
}

// MakeUSCC completes 16 characters with the GB 11714 (17) and GB 32100 (18) check characters.
func MakeUSCC(prefix16 string) (string, error) {
	if !wellFormed(prefix16, 16) {
		return "", fmt.Errorf("not a USCC prefix: %q", prefix16)
	}
	p17 := prefix16 + string(organisationCheck(prefix16[8:16]))
	return p17 + string(usccCheck(p17)), nil
}

// ValidUSCC reports whether s is a code subsidyd accepts.
func ValidUSCC(s string) bool {
	return wellFormed(s, 18) && s[16] == organisationCheck(s[8:16]) && s[17] == usccCheck(s[:17])
}
