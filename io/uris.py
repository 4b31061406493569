"""Store and source URIs: the password a URI may hold, kept out of what is shown, and the
options of its query string."""
import urllib.parse

__all__ = ["uri_password", "redact", "uri_options"]


def uri_password(uri):
  """The PASSWORD of SCHEME://USER:PASSWORD@..., else None."""
  _, sep, rest = uri.partition("://")
  userinfo, at, _ = rest.rpartition("@")
  _, colon, password = userinfo.partition(":")
  return password if sep and at and colon else None


def redact(uri):
  """uri with any password replaced by ***."""
  password = uri_password(uri)
  return uri if password is None else uri.replace(f":{password}@", ":***@", 1)


def uri_options(query, types, defaults, shown):
  """defaults updated from a URI's query (NAME=VALUE&...), each converted by types[NAME];
  ValueError naming the URI as `shown` (redacted) on an unknown name or a bad value."""
  options = dict(defaults)
  for key, values in urllib.parse.parse_qs(query, keep_blank_values=True).items():
    if key not in types:
      raise ValueError(f"unknown option {key!r} in sink {shown!r}: known are "
                       f"{', '.join(types)}")
    try:
      options[key] = types[key](values[-1])
      if options[key] < 0:
        raise ValueError
    except ValueError:
      raise ValueError(f"option {key}={values[-1]!r} in {shown!r} is not a "
                       f"{types[key].__name__} >= 0") from None
  return options
