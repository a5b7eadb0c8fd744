# AWS resources for layerscan when the store bucket and the ECR push rule
# are managed outside the SAM stack (templates/template.yaml creates its
# own): the store bucket, the failure queue, and an EventBridge rule that
# sends ECR pushes to the registry-events function.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "region" {
  type    = string
  default = "us-west-2"
}

variable "bucket" {
  type    = string
  default = "layerscan-store"
}

variable "registry_events_function_arn" {
  type        = string
  description = "ARN of the layerscan-registry-events function"
}

provider "aws" {
  region = var.region
}

# Versioning stays off; create-once writes use If-None-Match: *.
resource "aws_s3_bucket" "store" {
  bucket = var.bucket
}

resource "aws_s3_bucket_public_access_block" "store" {
  bucket                  = aws_s3_bucket.store.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "store" {
  bucket = aws_s3_bucket.store.id
  rule {
    id     = "stale-jobs"
    status = "Enabled"
    filter {
      prefix = "layerscan/queue/"
    }
    expiration {
      days = 7
    }
  }
}

resource "aws_sqs_queue" "failures" {
  name                      = "layerscan-failures"
  message_retention_seconds = 1209600
}

resource "aws_cloudwatch_event_rule" "ecr_push" {
  name = "layerscan-ecr-push"
  event_pattern = jsonencode({
    source        = ["aws.ecr"]
    "detail-type" = ["ECR Image Action"]
    detail = {
      "action-type" = ["PUSH"]
      result        = ["SUCCESS"]
    }
  })
}

resource "aws_cloudwatch_event_target" "ecr_push" {
  rule = aws_cloudwatch_event_rule.ecr_push.name
  arn  = var.registry_events_function_arn
}

resource "aws_lambda_permission" "ecr_push" {
  statement_id  = "layerscan-ecr-push"
  action        = "lambda:InvokeFunction"
  function_name = var.registry_events_function_arn
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.ecr_push.arn
}

output "failure_queue_arn" {
  value = aws_sqs_queue.failures.arn
}
