"""Checks before reading object stores, so a missing credential fails at once with a clear
message instead of minutes of Beam's retries."""
import os

from apache_beam.options.pipeline_options import GoogleCloudOptions, S3Options

__all__ = ["check_credentials"]


def check_credentials(patterns, options):
  """Raise ValueError if s3:// inputs have no credentials from the options, the
  environment or the AWS config files, or gs:// inputs no Google credentials (unless
  --no_auth asks for anonymous reads, or STORAGE_EMULATOR_HOST names an emulator)."""
  _check_s3(patterns, options)
  _check_gcs(patterns, options)


def _check_gcs(patterns, options):
  if not any(p.startswith("gs://") for p in patterns):
    return
  if os.environ.get("STORAGE_EMULATOR_HOST") or options.view_as(GoogleCloudOptions).no_auth:
    return
  import google.auth
  from google.auth.exceptions import DefaultCredentialsError
  try:
    google.auth.default()
  except DefaultCredentialsError:
    # Beam would retry for minutes, then read anonymously.
    raise ValueError(
        "gs:// input but no Google credentials: run `gcloud auth application-default "
        "login` or set GOOGLE_APPLICATION_CREDENTIALS (--no_auth reads public buckets "
        "anonymously)") from None


def _check_s3(patterns, options):
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
