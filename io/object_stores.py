"""Checks before reading object stores, so a missing credential fails at once with a clear
message instead of minutes of Beam's retries."""
import logging

from apache_beam.options.pipeline_options import S3Options

__all__ = ["check_credentials"]

LOG = logging.getLogger(__name__)


def check_credentials(patterns, options):
  """Raise ValueError if s3:// inputs have no credentials from the options, the
  environment or the AWS config files; warn if gs:// inputs have no Google credentials."""
  _check_s3(patterns, options)
  _warn_without_google_credentials(patterns)


def _warn_without_google_credentials(patterns):
  if not any(p.startswith("gs://") for p in patterns):
    return
  import google.auth
  from google.auth.exceptions import DefaultCredentialsError
  try:
    google.auth.default()
  except DefaultCredentialsError:
    LOG.warning(
        "gs:// input but no Google credentials: Beam retries for about 25 s, then reads "
        "anonymously (fine for public buckets and STORAGE_EMULATOR_HOST). Run `gcloud "
        "auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS.")


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
