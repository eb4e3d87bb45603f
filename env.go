package tidygram

import "errors"

// Environment variables NewFromEnv reads.
const (
	EnvToken  = "TELEGRAM_TOKEN"   // the bot token (required)
	EnvAPIURL = "TELEGRAM_API_URL" // the Bot API base URL (optional; the emulator's, a local Bot API server's)
)

// ErrNoToken is returned by NewFromEnv when TELEGRAM_TOKEN is empty.
var ErrNoToken = errors.New("tidygram: set " + EnvToken + " to the bot's token")

// NewFromEnv returns a Bot configured from the environment read through
// getenv (os.Getenv, or a map in tests): the token from TELEGRAM_TOKEN and,
// when set, the Bot API base URL from TELEGRAM_API_URL; opts apply after
// them. `tidygram soak` and `tidygram emulator` speak the same variables.
func NewFromEnv(getenv func(string) string, opts ...Option) (*Bot, error) {
	token := getenv(EnvToken)
	if token == "" {
		return nil, ErrNoToken
	}
	if api := getenv(EnvAPIURL); api != "" {
		opts = append([]Option{WithBaseURL(api)}, opts...)
	}
	return New(token, opts...)
}
