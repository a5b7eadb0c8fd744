// Package ecr is the Amazon ECR kind: temporary registry logins from ECR's
// GetAuthorizationToken (aws-sdk-go-v2) and listing by
// DescribeRepositories and DescribeImages, which carry each image's tags,
// digest and push time.
package ecr

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/layerscan/layerscan/shared/registries"
	"github.com/layerscan/layerscan/shared/registry"
)

// Cloud implements registries.CloudLogin and registries.Lister for ecr.
type Cloud struct {
	// Transport carries the API calls (the network guard).
	Transport http.RoundTripper
	// Key gives a connection's AccessKey; nil or a nil key uses the SDK's
	// default chain (the Lambda role).
	Key func(c *registries.Connection) (*registries.AccessKey, error)
}

// maxPages bounds a listing.
const maxPages = registry.MaxListPages

func (e Cloud) client(ctx context.Context, c *registries.Connection, key *registries.AccessKey) (*ecr.Client, error) {
	set := func(o *ecr.Options) {
		o.Region = c.Region
		if c.API != "" {
			o.BaseEndpoint = aws.String(c.API)
		}
		if e.Transport != nil {
			o.HTTPClient = &http.Client{Transport: e.Transport, Timeout: time.Minute}
		}
	}
	if key != nil && key.ID != "" {
		o := ecr.Options{Credentials: credentials.NewStaticCredentialsProvider(key.ID, key.Secret, key.Token)}
		set(&o)
		return ecr.New(o), nil
	}
	// The SDK's default chain: the Lambda role, or the environment.
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(c.Region))
	if err != nil {
		return nil, err
	}
	return ecr.NewFromConfig(cfg, set), nil
}

// Login implements registries.CloudLogin.
func (e Cloud) Login(ctx context.Context, c *registries.Connection, key *registries.AccessKey) (registries.Login, error) {
	cl, err := e.client(ctx, c, key)
	if err != nil {
		return registries.Login{}, err
	}
	in := &ecr.GetAuthorizationTokenInput{}
	out, err := cl.GetAuthorizationToken(ctx, in)
	if err != nil {
		return registries.Login{}, fmt.Errorf("ECR GetAuthorizationToken: %w", err)
	}
	if len(out.AuthorizationData) == 0 || out.AuthorizationData[0].AuthorizationToken == nil {
		return registries.Login{}, errors.New("ECR GetAuthorizationToken: no authorization data")
	}
	d := out.AuthorizationData[0]
	raw, err := base64.StdEncoding.DecodeString(*d.AuthorizationToken)
	if err != nil {
		return registries.Login{}, fmt.Errorf("ECR authorization token: %w", err)
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return registries.Login{}, errors.New("ECR authorization token is not user:password")
	}
	l := registries.Login{Username: user, Password: pass}
	if d.ExpiresAt != nil {
		l.Expires = *d.ExpiresAt
	}
	return l, nil
}

// List implements registries.Lister: every tagged image of every
// repository of the registry (the connection's account).
func (e Cloud) List(ctx context.Context, c *registries.Connection, _ registries.Login, _ http.RoundTripper, each func(registries.Image) error) error {
	var key *registries.AccessKey
	if e.Key != nil {
		k, err := e.Key(c)
		if err != nil {
			return err
		}
		key = k
	}
	cl, err := e.client(ctx, c, key)
	if err != nil {
		return err
	}
	var registryID *string
	if c.Account != "" {
		registryID = aws.String(c.Account)
	}
	var repos []string
	var next *string
	for page := 0; page < maxPages; page++ {
		out, err := cl.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RegistryId: registryID, NextToken: next})
		if err != nil {
			return fmt.Errorf("ECR DescribeRepositories: %w", err)
		}
		for _, r := range out.Repositories {
			repos = append(repos, aws.ToString(r.RepositoryName))
		}
		if len(repos) > registry.MaxListEntries {
			return fmt.Errorf("ECR DescribeRepositories: over %d repositories", registry.MaxListEntries)
		}
		if next = out.NextToken; next == nil {
			break
		}
	}
	for _, repo := range repos {
		next = nil
		for page := 0; page < maxPages; page++ {
			out, err := cl.DescribeImages(ctx, &ecr.DescribeImagesInput{RegistryId: registryID, RepositoryName: aws.String(repo), NextToken: next})
			if err != nil {
				return fmt.Errorf("ECR DescribeImages %s: %w", repo, err)
			}
			for _, im := range out.ImageDetails {
				var pushed time.Time
				if im.ImagePushedAt != nil {
					pushed = *im.ImagePushedAt
				}
				for _, tag := range im.ImageTags {
					if err := each(registries.Image{Repository: repo, Tag: tag, Digest: aws.ToString(im.ImageDigest), Pushed: pushed}); err != nil {
						return err
					}
				}
			}
			if next = out.NextToken; next == nil {
				break
			}
		}
	}
	return nil
}
