package main

// TLS and SASL for both clients (the security scenarios, harness/security.py): the
// request's "security" object, client-neutral, applied by franzClient and
// saramaConfig to every client the command makes.

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Security is the request's "security": protocol (SSL, SASL_SSL, SASL_PLAINTEXT),
// mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER), username, password,
// CA / client certificate / unencrypted key (PEM files), oauth_sub (the subject of
// an unsecured OAUTHBEARER token).
type Security struct {
	Protocol  string `json:"protocol"`
	Mechanism string `json:"mechanism"`
	Username  string `json:"username"`
	Password  string `json:"password"`
	CA        string `json:"ca"`
	Cert      string `json:"cert"`
	Key       string `json:"key"`
	OAuthSub  string `json:"oauth_sub"`
}

// security of this process's request (one request per process)
var security *Security

func (s *Security) tls() (*tls.Config, error) {
	if s == nil || !strings.Contains(s.Protocol, "SSL") {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.CA != "" {
		pem, err := os.ReadFile(s.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in %s", s.CA)
		}
	}
	if s.Cert != "" {
		cert, err := tls.LoadX509KeyPair(s.Cert, s.Key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (s *Security) sasl() bool { return s != nil && strings.HasPrefix(s.Protocol, "SASL_") }

// unsecuredJWT is an unsecured JWS (alg none) for Kafka's unsecured OAUTHBEARER validator.
func unsecuredJWT(sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	now := time.Now().Unix()
	claims := fmt.Sprintf(`{"sub":%q,"iat":%d,"exp":%d}`, sub, now, now+3600)
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(claims)) + "."
}

func franzSecurityOpts() ([]kgo.Opt, error) {
	s := security
	var opts []kgo.Opt
	cfg, err := s.tls()
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if s.sasl() {
		var m sasl.Mechanism
		switch s.Mechanism {
		case "PLAIN":
			m = plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()
		case "SCRAM-SHA-256":
			m = scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()
		case "SCRAM-SHA-512":
			m = scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()
		case "OAUTHBEARER":
			m = oauth.Auth{Token: unsecuredJWT(s.OAuthSub)}.AsMechanism()
		default:
			return nil, fmt.Errorf("unknown SASL mechanism %q", s.Mechanism)
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

type saramaToken string

func (t saramaToken) Token() (*sarama.AccessToken, error) {
	return &sarama.AccessToken{Token: string(t)}, nil
}

func saramaSecurity(c *sarama.Config) {
	s := security
	cfg, err := s.tls()
	if err != nil {
		// surfaces as the client's own error: a TLS config without certificates
		fmt.Fprintln(os.Stderr, "security:", err)
	}
	if cfg != nil {
		c.Net.TLS.Enable = true
		c.Net.TLS.Config = cfg
	}
	if s.sasl() {
		c.Net.SASL.Enable = true
		c.Net.SASL.Handshake = true
		c.Net.SASL.User = s.Username
		c.Net.SASL.Password = s.Password
		c.Net.SASL.Mechanism = sarama.SASLMechanism(s.Mechanism)
		switch s.Mechanism {
		case "SCRAM-SHA-256":
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha256.New} }
		case "SCRAM-SHA-512":
			c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha512.New} }
		case "OAUTHBEARER":
			c.Net.SASL.TokenProvider = saramaToken(unsecuredJWT(s.OAuthSub))
		}
	}
}

// scramClient is sarama's SCRAMClient (RFC 5802), which sarama leaves to its user.
type scramClient struct {
	hash                    func() hash.Hash
	user, pass, nonce, bare string
	serverSignature         []byte
	step                    int
}

func (c *scramClient) Begin(user, pass, _ string) error {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	c.user, c.pass, c.nonce = strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user), pass, base64.RawStdEncoding.EncodeToString(b)
	return nil
}

func (c *scramClient) mac(key []byte, msg string) []byte {
	m := hmac.New(c.hash, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func (c *scramClient) Step(challenge string) (string, error) {
	c.step++
	switch c.step {
	case 1:
		c.bare = "n=" + c.user + ",r=" + c.nonce
		return "n,," + c.bare, nil
	case 2:
		attrs := map[string]string{}
		for _, kv := range strings.Split(challenge, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				attrs[k] = v
			}
		}
		if !strings.HasPrefix(attrs["r"], c.nonce) {
			return "", errors.New("SCRAM: the server nonce does not extend ours")
		}
		salt, err := base64.StdEncoding.DecodeString(attrs["s"])
		if err != nil {
			return "", err
		}
		iter, err := strconv.Atoi(attrs["i"])
		if err != nil {
			return "", err
		}
		salted, err := pbkdf2.Key(c.hash, c.pass, salt, iter, c.hash().Size())
		if err != nil {
			return "", err
		}
		clientKey := c.mac(salted, "Client Key")
		h := c.hash()
		h.Write(clientKey)
		stored := h.Sum(nil)
		final := "c=biws,r=" + attrs["r"]
		auth := c.bare + "," + challenge + "," + final
		sig := c.mac(stored, auth)
		for i := range clientKey {
			clientKey[i] ^= sig[i]
		}
		c.serverSignature = c.mac(c.mac(salted, "Server Key"), auth)
		return final + ",p=" + base64.StdEncoding.EncodeToString(clientKey), nil
	default:
		if e, ok := strings.CutPrefix(challenge, "e="); ok {
			return "", errors.New("SCRAM: server error " + e)
		}
		v, _ := strings.CutPrefix(challenge, "v=")
		if v != base64.StdEncoding.EncodeToString(c.serverSignature) {
			return "", errors.New("SCRAM: wrong server signature")
		}
		return "", nil
	}
}

func (c *scramClient) Done() bool { return c.step >= 3 }
