# Alibaba Cloud resources layerscan's functions need besides themselves
# (s.yaml creates the functions and their triggers): the store bucket, the
# function role, the role OSS assumes to invoke functions on job objects,
# and the failure topic of async invocations.

terraform {
  required_version = ">= 1.5"
  required_providers {
    alicloud = {
      source  = "aliyun/alicloud"
      version = ">= 1.230"
    }
  }
}

variable "region" {
  type    = string
  default = "cn-hangzhou"
}

variable "bucket" {
  type    = string
  default = "layerscan-store"
}

provider "alicloud" {
  region = var.region
}

data "alicloud_account" "current" {}

# Versioning stays off: x-oss-forbid-overwrite (create-once markers and
# claims) is ignored on versioned buckets, and the store refuses to start
# on one.
resource "alicloud_oss_bucket" "store" {
  bucket = var.bucket
}

resource "alicloud_oss_bucket_acl" "store" {
  bucket = alicloud_oss_bucket.store.bucket
  acl    = "private"
}

resource "alicloud_oss_bucket_lifecycle" "store" {
  bucket = alicloud_oss_bucket.store.bucket
  rule {
    id      = "stale-jobs"
    prefix  = "layerscan/queue/"
    enabled = true
    expiration {
      days = 7
    }
  }
}

resource "alicloud_ram_role" "fc" {
  role_name = "layerscan-fc"
  assume_role_policy_document = jsonencode({
    Version = "1"
    Statement = [{
      Action    = "sts:AssumeRole"
      Effect    = "Allow"
      Principal = { Service = ["fc.aliyuncs.com"] }
    }]
  })
}

resource "alicloud_ram_policy" "fc" {
  policy_name = "layerscan-fc"
  policy_document = jsonencode({
    Version = "1"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["oss:GetObject", "oss:PutObject", "oss:DeleteObject", "oss:ListObjects", "oss:GetBucketInfo", "oss:GetBucketVersioning"]
        Resource = ["acs:oss:*:*:${var.bucket}", "acs:oss:*:*:${var.bucket}/*"]
      },
      {
        Effect = "Allow"
        # ACR EE: temporary registry logins, pulls, and the listings of
        # periodic scans (docs/registries.md).
        Action   = ["cr:GetAuthorizationToken", "cr:PullRepository", "cr:GetRepository", "cr:ListNamespace", "cr:ListRepository", "cr:ListRepoTag", "cr:GetRepoTag", "cr:ListInstance", "cr:GetInstanceEndpoint", "cr:ListInstanceEndpoint"]
        Resource = ["*"]
      },
      {
        Effect   = "Allow"
        Action   = ["mns:SendMessage", "mns:PublishMessage"]
        Resource = ["acs:mns:${var.region}:${data.alicloud_account.current.id}:/topics/layerscan-failures/messages"]
      }
    ]
  })
}

resource "alicloud_ram_role_policy_attachment" "fc" {
  role_name   = alicloud_ram_role.fc.role_name
  policy_name = alicloud_ram_policy.fc.policy_name
  policy_type = "Custom"
}

# The role OSS assumes to call the step functions on new job objects.
resource "alicloud_ram_role" "oss_invoke" {
  role_name = "layerscan-oss-invoke"
  assume_role_policy_document = jsonencode({
    Version = "1"
    Statement = [{
      Action    = "sts:AssumeRole"
      Effect    = "Allow"
      Principal = { Service = ["oss.aliyuncs.com"] }
    }]
  })
}

resource "alicloud_ram_role_policy_attachment" "oss_invoke" {
  role_name   = alicloud_ram_role.oss_invoke.role_name
  policy_name = "AliyunFCInvocationAccess"
  policy_type = "System"
}

resource "alicloud_mns_topic" "failures" {
  name = "layerscan-failures"
}

output "fc_role_arn" {
  value = alicloud_ram_role.fc.arn
}

output "oss_invoke_role_arn" {
  value = alicloud_ram_role.oss_invoke.arn
}
