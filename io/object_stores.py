"""Checks before reading object stores, so a missing credential fails at once with a clear
message instead of minutes of Beam's retries."""
from apache_beam.options.pipeline_options import S3Options


def check_credentials(patterns, options):
  """Raise ValueError if s3:// inputs have no credentials from the options, the
  environment or the AWS config files."""
  if not any(p.startswith("s3://") for p in patterns):
    return
  s3 = options.view_as(S3Options)
  if s3.s3_access_key_id and s3.s3_secret_access_key:
    return
  import boto3   # only needed for s3:// inputs
  if boto3.Session().get_credentials() is None:
    raise ValueError(
        "s3:// input but no AWS credentials: pass --s3_access_key_id and "
        "--s3_secret_access_key (and --s3_endpoint_url for a local store), or set "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
