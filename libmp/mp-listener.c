/* mp-listener.c: MpListener, mp_client() and the authkey handshake
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * NOTES:
 * The handshake is Python's (multiprocessing/connection.py), wire-compatible with both of its
 * generations:
 *
 * - Python >= 3.12 (and libmp): the server sends `#CHALLENGE#{sha256}` + 40 random bytes; the
 *   client answers `{sha256}` + HMAC-SHA256(authkey, message), where the message is everything
 *   after `#CHALLENGE#`, the `{sha256}` prefix included (so a client cannot downgrade it).
 * - Python <= 3.11 (Debian 12's 3.11.2 among them): the server sends `#CHALLENGE#` + 20
 *   random bytes and expects a bare 16-byte HMAC-MD5; such a client, given a modern challenge,
 *   answers a bare HMAC-MD5 over the whole message.
 *
 * Who speaks which is told by lengths: a 20-byte challenge or a 16-byte answer is legacy (no
 * modern message has those lengths), anything else must carry a `{digest}` prefix naming md5,
 * sha256, sha384, sha3_256 or sha3_384. The server replies `#WELCOME#` or `#FAILURE#`; then
 * client and server swap roles (mutual authentication). Replies longer than 256 bytes are
 * refused before they are read.
 *
 * Differences from Python, on purpose: the comparison is constant-time (as in Python, via
 * compare_digest); every read of the handshake has a timeout (MP_AUTH_TIMEOUT) so a silent
 * peer cannot hang accept(); a peer that closes or sends garbage mid-handshake is an
 * %MP_ERROR_AUTHENTICATION (Python raises EOFError or OSError). An empty authkey still
 * authenticates, as in Python >= 3.12 (3.11 skipped the handshake for b'').
 *
 * GLib's GHmac has no SHA-3, so a small Keccak-f[1600] below provides sha3_256 and sha3_384
 * for the HMAC (block sizes 136 and 104 bytes, as Python's hmac uses).
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "mp-connection-private.h"
#include "mp-error.h"
#include "mp-listener.h"
#include "mp-object-private.h"
#include "mp-trace-private.h"

#define CHALLENGE "#CHALLENGE#"
#define WELCOME   "#WELCOME#"
#define FAILURE   "#FAILURE#"
#define MESSAGE_LENGTH 40
#define MD5ONLY_MESSAGE_LENGTH 20
#define MD5_DIGEST_LENGTH 16
#define MAX_DIGEST_NAME 8          /* strlen ("sha3_256") */
#define MAX_REPLY 256

/* ---- SHA-3 (FIPS 202) for the two digests GLib lacks ---------------------------------------- */

static const guint64 keccak_rc[24] = {
  G_GUINT64_CONSTANT (0x0000000000000001), G_GUINT64_CONSTANT (0x0000000000008082),
  G_GUINT64_CONSTANT (0x800000000000808a), G_GUINT64_CONSTANT (0x8000000080008000),
  G_GUINT64_CONSTANT (0x000000000000808b), G_GUINT64_CONSTANT (0x0000000080000001),
  G_GUINT64_CONSTANT (0x8000000080008081), G_GUINT64_CONSTANT (0x8000000000008009),
  G_GUINT64_CONSTANT (0x000000000000008a), G_GUINT64_CONSTANT (0x0000000000000088),
  G_GUINT64_CONSTANT (0x0000000080008009), G_GUINT64_CONSTANT (0x000000008000000a),
  G_GUINT64_CONSTANT (0x000000008000808b), G_GUINT64_CONSTANT (0x800000000000008b),
  G_GUINT64_CONSTANT (0x8000000000008089), G_GUINT64_CONSTANT (0x8000000000008003),
  G_GUINT64_CONSTANT (0x8000000000008002), G_GUINT64_CONSTANT (0x8000000000000080),
  G_GUINT64_CONSTANT (0x000000000000800a), G_GUINT64_CONSTANT (0x800000008000000a),
  G_GUINT64_CONSTANT (0x8000000080008081), G_GUINT64_CONSTANT (0x8000000000008080),
  G_GUINT64_CONSTANT (0x0000000080000001), G_GUINT64_CONSTANT (0x8000000080008008),
};
static const int keccak_rotc[24] = {
  1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44,
};
static const int keccak_piln[24] = {
  10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1,
};

#define ROTL64(x, n) (((x) << (n)) | ((x) >> (64 - (n))))

static void
keccakf (guint64 st[25])
{
  for (int round = 0; round < 24; round++)
    {
      guint64 bc[5], t;

      for (int i = 0; i < 5; i++)
        bc[i] = st[i] ^ st[i + 5] ^ st[i + 10] ^ st[i + 15] ^ st[i + 20];
      for (int i = 0; i < 5; i++)
        {
          t = bc[(i + 4) % 5] ^ ROTL64 (bc[(i + 1) % 5], 1);
          for (int j = 0; j < 25; j += 5)
            st[j + i] ^= t;
        }
      t = st[1];
      for (int i = 0; i < 24; i++)
        {
          int j = keccak_piln[i];
          bc[0] = st[j];
          st[j] = ROTL64 (t, keccak_rotc[i]);
          t = bc[0];
        }
      for (int j = 0; j < 25; j += 5)
        {
          for (int i = 0; i < 5; i++)
            bc[i] = st[j + i];
          for (int i = 0; i < 5; i++)
            st[j + i] ^= (~bc[(i + 1) % 5]) & bc[(i + 2) % 5];
        }
      st[0] ^= keccak_rc[round];
    }
}

typedef struct
{
  guint64 st[25];
  gsize   rate;
  gsize   pos;
} Sha3;

static void
sha3_init (Sha3 *s, gsize digest_len)
{
  memset (s, 0, sizeof *s);
  s->rate = 200 - 2 * digest_len;
}

static void
sha3_xor_byte (Sha3 *s, gsize i, guint8 b)
{
  s->st[i / 8] ^= (guint64) b << (8 * (i % 8));
}

static void
sha3_update (Sha3 *s, const guint8 *data, gsize len)
{
  for (gsize i = 0; i < len; i++)
    {
      sha3_xor_byte (s, s->pos++, data[i]);
      if (s->pos == s->rate)
        {
          keccakf (s->st);
          s->pos = 0;
        }
    }
}

static void
sha3_final (Sha3 *s, guint8 *out, gsize digest_len)
{
  sha3_xor_byte (s, s->pos, 0x06);
  sha3_xor_byte (s, s->rate - 1, 0x80);
  keccakf (s->st);
  for (gsize i = 0; i < digest_len; i++)
    out[i] = (guint8) (s->st[i / 8] >> (8 * (i % 8)));
}

/* ---- HMAC ---------------------------------------------------------------------------------- */

typedef struct
{
  const char    *name;
  GChecksumType  type;
  gboolean       sha3;
  gsize          digest_len;
  gsize          block_len;
} Digest;

static const Digest digests[] = {
  { "md5", G_CHECKSUM_MD5, FALSE, 16, 64 },
  { "sha256", G_CHECKSUM_SHA256, FALSE, 32, 64 },
  { "sha384", G_CHECKSUM_SHA384, FALSE, 48, 128 },
  { "sha3_256", G_CHECKSUM_SHA256, TRUE, 32, 136 },
  { "sha3_384", G_CHECKSUM_SHA384, TRUE, 48, 104 },
};

static const Digest *
digest_lookup (const char *name, gsize len)
{
  for (guint i = 0; i < G_N_ELEMENTS (digests); i++)
    if (strlen (digests[i].name) == len && memcmp (digests[i].name, name, len) == 0)
      return &digests[i];
  return NULL;
}

static void
sha3_hmac (const Digest *d, const guint8 *key, gsize key_len, const guint8 *msg, gsize msg_len,
           guint8 *out)
{
  guint8 k[200] = { 0 };
  guint8 pad[200] = { 0 };
  guint8 inner[64];
  Sha3 s;

  if (key_len > d->block_len)
    {
      sha3_init (&s, d->digest_len);
      sha3_update (&s, key, key_len);
      sha3_final (&s, k, d->digest_len);
    }
  else if (key_len > 0)
    memcpy (k, key, key_len);

  for (gsize i = 0; i < d->block_len; i++)
    pad[i] = k[i] ^ 0x36;
  sha3_init (&s, d->digest_len);
  sha3_update (&s, pad, d->block_len);
  sha3_update (&s, msg, msg_len);
  sha3_final (&s, inner, d->digest_len);

  for (gsize i = 0; i < d->block_len; i++)
    pad[i] = k[i] ^ 0x5c;
  sha3_init (&s, d->digest_len);
  sha3_update (&s, pad, d->block_len);
  sha3_update (&s, inner, d->digest_len);
  sha3_final (&s, out, d->digest_len);
}

/* out must hold d->digest_len bytes. */
static void
hmac (const Digest *d, GBytes *authkey, const guint8 *msg, gsize msg_len, guint8 *out)
{
  gsize key_len;
  const guint8 *key = g_bytes_get_data (authkey, &key_len);
  static const guint8 empty[1];

  if (key == NULL)
    key = empty;
  if (d->sha3)
    sha3_hmac (d, key, key_len, msg, msg_len, out);
  else
    {
      GHmac *h = g_hmac_new (d->type, key, key_len);
      gsize len = d->digest_len;

      g_hmac_update (h, msg, (gssize) msg_len);
      g_hmac_get_digest (h, out, &len);
      g_hmac_unref (h);
    }
}

static gboolean
equal_constant_time (const guint8 *a, const guint8 *b, gsize len)
{
  volatile guint8 diff = 0;

  for (gsize i = 0; i < len; i++)
    diff |= a[i] ^ b[i];
  return diff == 0;
}

/* Python's _get_digest_name_and_payload(): NULL digest (legacy MD5) for the two legacy
 * lengths, else the `{name}` prefix, which must name a known digest. */
static gboolean
split_digest (const guint8 *message, gsize len, const Digest **digest, gsize *payload_offset,
              GError **error)
{
  if (len == MD5ONLY_MESSAGE_LENGTH || len == MD5_DIGEST_LENGTH)
    {
      *digest = NULL;
      *payload_offset = 0;
      return TRUE;
    }
  if (len > 0 && message[0] == '{')
    {
      const guint8 *end = memchr (message + 1, '}', MIN (len - 1, MAX_DIGEST_NAME + 1));

      if (end != NULL && (*digest = digest_lookup ((const char *) message + 1,
                                                   (gsize) (end - message - 1))) != NULL)
        {
          *payload_offset = (gsize) (end - message) + 1;
          return TRUE;
        }
    }
  g_set_error (error, MP_ERROR, MP_ERROR_AUTHENTICATION,
               "unsupported message length, missing digest prefix, or unsupported digest "
               "(%" G_GSIZE_FORMAT " bytes)", len);
  return FALSE;
}

/* ---- handshake ----------------------------------------------------------------------------- */

static gboolean
auth_send (MpConnection *conn, const void *data, gsize len, GError **error)
{
  GError *local_error = NULL;

  if (mp_connection_send_bytes (conn, data, len, 0, -1, &local_error))
    return TRUE;
  g_set_error (error, MP_ERROR, MP_ERROR_AUTHENTICATION, "authentication failed: %s",
               local_error->message);
  g_error_free (local_error);
  return FALSE;
}

static GBytes *
auth_recv (MpConnection *conn, GError **error)
{
  GError *local_error = NULL;
  GBytes *reply = _mp_connection_recv_bytes_timed (conn, MAX_REPLY, MP_AUTH_TIMEOUT, &local_error);

  if (reply != NULL)
    return reply;
  g_set_error (error, MP_ERROR, MP_ERROR_AUTHENTICATION, "authentication failed: %s%s",
               g_error_matches (local_error, MP_ERROR, MP_ERROR_IO) &&
               strstr (local_error->message, "bad message length") ? "reply longer than 256 "
               "bytes: " : "", local_error->message);
  g_error_free (local_error);
  return NULL;
}

static gboolean
fill_random (guint8 *buf, gsize len, GError **error)
{
  while (len > 0)
    {
      ssize_t n = getrandom (buf, len, 0);
      if (n < 0)
        {
          int errsv = errno;
          if (errsv == EINTR)
            continue;
          g_set_error (error, MP_ERROR, MP_ERROR_IO, "getrandom() failed: %s", g_strerror (errsv));
          return FALSE;
        }
      buf += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/**
 * mp_connection_deliver_challenge:
 * @connection: a connection to a peer that calls mp_connection_answer_challenge()
 * @authkey: the shared key (may be empty)
 * @digest_name: (nullable): the HMAC digest to ask for: "sha256" (the default, for %NULL),
 *   "md5", "sha384", "sha3_256" or "sha3_384"
 * @error: return location for an error
 *
 * Python's `multiprocessing.connection.deliver_challenge()`: sends a random challenge and
 * checks the peer's HMAC of it, then tells the peer `#WELCOME#` or `#FAILURE#`. Peers that
 * speak the legacy (Python <= 3.11) protocol are accepted with their bare HMAC-MD5 answer.
 * Every failure, including a peer that closes, stalls past %MP_AUTH_TIMEOUT or replies with
 * more than 256 bytes, is %MP_ERROR_AUTHENTICATION.
 *
 * Returns: %TRUE when the peer knows @authkey
 */
gboolean
mp_connection_deliver_challenge (MpConnection  *connection,
                                 GBytes        *authkey,
                                 const char    *digest_name,
                                 GError       **error)
{
  const Digest *d = digest_lookup (digest_name ? digest_name : "sha256",
                                   strlen (digest_name ? digest_name : "sha256"));
  guint8 challenge[sizeof CHALLENGE - 1 + 2 + MAX_DIGEST_NAME + MESSAGE_LENGTH];
  guint8 expected[64];
  g_autoptr(GBytes) response = NULL;
  const guint8 *message, *reply;
  const Digest *answer_digest;
  gsize message_len, reply_len, mac_offset;
  GError *local_error = NULL;
  int prefix;

  g_return_val_if_fail (MP_IS_CONNECTION (connection), FALSE);
  g_return_val_if_fail (authkey != NULL, FALSE);

  if (d == NULL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "unsupported digest %s",
                   digest_name);
      return FALSE;
    }
  memcpy (challenge, CHALLENGE, sizeof CHALLENGE - 1);
  prefix = g_snprintf ((char *) challenge + sizeof CHALLENGE - 1, 2 + MAX_DIGEST_NAME + 1,
                       "{%s}", d->name);
  message = challenge + sizeof CHALLENGE - 1;
  message_len = (gsize) prefix + MESSAGE_LENGTH;
  if (!fill_random ((guint8 *) message + prefix, MESSAGE_LENGTH, error))
    return FALSE;
  if (!auth_send (connection, challenge, sizeof CHALLENGE - 1 + message_len, error))
    return FALSE;

  response = auth_recv (connection, error);
  if (response == NULL)
    return FALSE;
  reply = g_bytes_get_data (response, &reply_len);

  /* Python's _verify_challenge(): the peer may pick the digest (the MAC covers our prefix,
   * so that is no downgrade); a bare 16 or 20 bytes is legacy MD5. */
  if (split_digest (reply, reply_len, &answer_digest, &mac_offset, &local_error))
    {
      if (answer_digest == NULL)
        answer_digest = digest_lookup ("md5", 3);
      hmac (answer_digest, authkey, message, message_len, expected);
      if (reply_len - mac_offset != answer_digest->digest_len)
        g_set_error (&local_error, MP_ERROR, MP_ERROR_AUTHENTICATION,
                     "expected '%s' of length %" G_GSIZE_FORMAT " got %" G_GSIZE_FORMAT,
                     answer_digest->name, answer_digest->digest_len, reply_len - mac_offset);
      else if (!equal_constant_time (expected, reply + mac_offset, answer_digest->digest_len))
        g_set_error_literal (&local_error, MP_ERROR, MP_ERROR_AUTHENTICATION,
                             "digest received was wrong");
    }
  if (local_error != NULL)
    {
      (void) mp_connection_send_bytes (connection, FAILURE, sizeof FAILURE - 1, 0, -1, NULL);
      _mp_connection_count_auth_failure (connection);
      _mp_trace (MP_TRACE_NORMAL, MP_EVENT_AUTH_FAILED, connection->object_id, 0, 0);
      g_propagate_error (error, local_error);
      return FALSE;
    }
  return auth_send (connection, WELCOME, sizeof WELCOME - 1, error);
}

/**
 * mp_connection_answer_challenge:
 * @connection: a connection to a peer that calls mp_connection_deliver_challenge()
 * @authkey: the shared key (may be empty)
 * @error: return location for an error
 *
 * Python's `multiprocessing.connection.answer_challenge()`: answers the peer's challenge with
 * the HMAC it asks for (a bare HMAC-MD5 to a legacy 20-byte challenge) and expects
 * `#WELCOME#`. Every failure is %MP_ERROR_AUTHENTICATION.
 *
 * Returns: %TRUE when the peer accepted the answer
 */
gboolean
mp_connection_answer_challenge (MpConnection  *connection,
                                GBytes        *authkey,
                                GError       **error)
{
  g_autoptr(GBytes) challenge = NULL;
  g_autoptr(GBytes) verdict = NULL;
  guint8 answer[2 + MAX_DIGEST_NAME + 64];
  const guint8 *message;
  const Digest *d;
  gsize len, payload_offset, answer_len = 0;

  g_return_val_if_fail (MP_IS_CONNECTION (connection), FALSE);
  g_return_val_if_fail (authkey != NULL, FALSE);

  challenge = auth_recv (connection, error);
  if (challenge == NULL)
    return FALSE;
  message = g_bytes_get_data (challenge, &len);
  if (len < sizeof CHALLENGE - 1 || memcmp (message, CHALLENGE, sizeof CHALLENGE - 1) != 0)
    {
      g_set_error_literal (error, MP_ERROR, MP_ERROR_AUTHENTICATION,
                           "Protocol error, expected challenge");
      return FALSE;
    }
  message += sizeof CHALLENGE - 1;
  len -= sizeof CHALLENGE - 1;
  if (len < MD5ONLY_MESSAGE_LENGTH)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_AUTHENTICATION,
                   "challenge too short: %" G_GSIZE_FORMAT " bytes", len);
      return FALSE;
    }
  if (!split_digest (message, len, &d, &payload_offset, error))
    return FALSE;
  if (d == NULL)
    {
      /* A legacy server: a bare HMAC-MD5. */
      hmac (digest_lookup ("md5", 3), authkey, message, len, answer);
      answer_len = MD5_DIGEST_LENGTH;
    }
  else
    {
      answer_len = (gsize) g_snprintf ((char *) answer, 2 + MAX_DIGEST_NAME + 1, "{%s}", d->name);
      hmac (d, authkey, message, len, answer + answer_len);
      answer_len += d->digest_len;
    }
  if (!auth_send (connection, answer, answer_len, error))
    return FALSE;

  verdict = auth_recv (connection, error);
  if (verdict == NULL)
    return FALSE;
  if (g_bytes_get_size (verdict) != sizeof WELCOME - 1 ||
      memcmp (g_bytes_get_data (verdict, NULL), WELCOME, sizeof WELCOME - 1) != 0)
    {
      _mp_connection_count_auth_failure (connection);
      _mp_trace (MP_TRACE_NORMAL, MP_EVENT_AUTH_FAILED, connection->object_id, 1, 0);
      g_set_error_literal (error, MP_ERROR, MP_ERROR_AUTHENTICATION, "digest sent was rejected");
      return FALSE;
    }
  return TRUE;
}

/* ---- addresses ----------------------------------------------------------------------------- */

typedef struct
{
  struct sockaddr_storage addr;
  socklen_t               len;
  MpAddressFamily         family;
} Address;

static gboolean
is_tcp_like (const char *address)
{
  const char *colon = strrchr (address, ':');

  if (colon == NULL || colon[1] == '\0' || strchr (address, '/') != NULL)
    return FALSE;
  for (const char *p = colon + 1; *p; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return TRUE;
}

/**
 * mp_address_type:
 * @address: an address in libmp's notation (see #MpAddressFamily)
 *
 * Python's `address_type()`: the family an address belongs to.
 *
 * Returns: %MP_ADDRESS_FAMILY_INET or %MP_ADDRESS_FAMILY_UNIX
 */
MpAddressFamily
mp_address_type (const char *address)
{
  g_return_val_if_fail (address != NULL, MP_ADDRESS_FAMILY_UNIX);

  if (address[0] != '@' && is_tcp_like (address))
    return MP_ADDRESS_FAMILY_INET;
  return MP_ADDRESS_FAMILY_UNIX;
}

static gboolean
parse_unix (const char *address, Address *out, GError **error)
{
  struct sockaddr_un *sun = (struct sockaddr_un *) &out->addr;
  gsize len = strlen (address);

  memset (out, 0, sizeof *out);
  out->family = MP_ADDRESS_FAMILY_UNIX;
  sun->sun_family = AF_UNIX;
  if (len == 0 || len >= sizeof sun->sun_path)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "a Unix socket address must have 1 to %d bytes: '%s'",
                   (int) sizeof sun->sun_path - 1, address);
      return FALSE;
    }
  if (address[0] == '@')
    {
      /* Abstract: a NUL and the name, with the exact length (no trailing NULs). */
      memcpy (sun->sun_path + 1, address + 1, len - 1);
      out->len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + len);
    }
  else
    {
      memcpy (sun->sun_path, address, len);
      out->len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + len + 1);
    }
  return TRUE;
}

static gboolean
parse_inet (const char *address, gboolean passive, Address *out, GError **error)
{
  g_autofree char *host = NULL;
  const char *colon = strrchr (address, ':');
  struct addrinfo hints = { 0 }, *res = NULL;
  int r;

  memset (out, 0, sizeof *out);
  out->family = MP_ADDRESS_FAMILY_INET;
  if (colon == NULL || !is_tcp_like (address))
    {
      g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT,
                   "a TCP address must be host:port or [ipv6]:port, not '%s'", address);
      return FALSE;
    }
  host = g_strndup (address, (gsize) (colon - address));
  if (host[0] == '[' && host[strlen (host) - 1] == ']')
    {
      memmove (host, host + 1, strlen (host) - 2);
      host[strlen (host) - 2] = '\0';
    }
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  r = getaddrinfo (host[0] ? host : NULL, colon + 1, &hints, &res);
  if (r != 0 || res == NULL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot resolve '%s': %s", address,
                   r == EAI_SYSTEM ? g_strerror (errno) : gai_strerror (r));
      if (res)
        freeaddrinfo (res);
      return FALSE;
    }
  /* Like Python's AF_INET family, prefer IPv4 when a name has both. */
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
    if (ai->ai_family == AF_INET || (ai->ai_family == AF_INET6 && out->len == 0))
      {
        memcpy (&out->addr, ai->ai_addr, ai->ai_addrlen);
        out->len = ai->ai_addrlen;
        if (ai->ai_family == AF_INET)
          break;
      }
  freeaddrinfo (res);
  if (out->len == 0)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot resolve '%s' to an IP address", address);
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_address (const char *address, MpAddressFamily family, gboolean passive, Address *out,
               GError **error)
{
  if (family == MP_ADDRESS_FAMILY_DEFAULT)
    family = mp_address_type (address);
  if (family == MP_ADDRESS_FAMILY_INET)
    return parse_inet (address, passive, out, error);
  if (family == MP_ADDRESS_FAMILY_UNIX)
    return parse_unix (address, out, error);
  g_set_error (error, MP_ERROR, MP_ERROR_INVALID_ARGUMENT, "unknown address family %d", family);
  return FALSE;
}

/* The notation of #MpAddressFamily for a socket address; "" for an unnamed Unix socket. */
static char *
format_address (const struct sockaddr *sa, socklen_t len)
{
  char host[INET6_ADDRSTRLEN] = "";

  if (sa->sa_family == AF_INET)
    {
      const struct sockaddr_in *in = (const struct sockaddr_in *) (const void *) sa;
      inet_ntop (AF_INET, &in->sin_addr, host, sizeof host);
      return g_strdup_printf ("%s:%u", host, ntohs (in->sin_port));
    }
  if (sa->sa_family == AF_INET6)
    {
      const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) (const void *) sa;
      inet_ntop (AF_INET6, &in6->sin6_addr, host, sizeof host);
      return g_strdup_printf ("[%s]:%u", host, ntohs (in6->sin6_port));
    }
  if (sa->sa_family == AF_UNIX)
    {
      const struct sockaddr_un *sun = (const struct sockaddr_un *) (const void *) sa;
      gssize n = (gssize) len - (gssize) offsetof (struct sockaddr_un, sun_path);

      if (n <= 0)
        return g_strdup ("");
      if (sun->sun_path[0] == '\0')
        {
          /* Abstract names may hold any byte; show them as they are up to a NUL. */
          return g_strdup_printf ("@%.*s", (int) strnlen (sun->sun_path + 1, (gsize) n - 1),
                                  sun->sun_path + 1);
        }
      return g_strndup (sun->sun_path, strnlen (sun->sun_path, (gsize) n));
    }
  return g_strdup ("");
}

/* ---- MpListener ---------------------------------------------------------------------------- */

struct _MpListener
{
  GObject          parent_instance;

  int              fd;            /* -1 once closed; read atomically by accept() */
  MpAddressFamily  family;
  char            *address;
  char            *unlink_path;   /* a Unix path to remove on close */
  char            *temp_dir;      /* the private directory made for a default address */
  char            *last_accepted;
  GBytes          *authkey;
  MpArenaObject   *object;
  guint64          object_id;
  pid_t            creator_pid;
};

G_DEFINE_FINAL_TYPE (MpListener, mp_listener, G_TYPE_OBJECT)

static void
mp_listener_finalize (GObject *object)
{
  MpListener *self = MP_LISTENER (object);

  (void) mp_listener_close (self, NULL);
  g_free (self->address);
  g_free (self->last_accepted);
  g_clear_pointer (&self->authkey, g_bytes_unref);

  G_OBJECT_CLASS (mp_listener_parent_class)->finalize (object);
}

static void
mp_listener_class_init (MpListenerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = mp_listener_finalize;
}

static void
mp_listener_init (MpListener *self)
{
  self->fd = -1;
}

static char *
random_listener_path (GError **error)
{
  g_autoptr(GError) local_error = NULL;
  char *dir = g_dir_make_tmp ("libmp-XXXXXX", &local_error);
  char *path;

  if (dir == NULL)
    {
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot make a directory for the listener: %s",
                   local_error->message);
      return NULL;
    }
  path = g_strdup_printf ("%s/listener-%08x", dir, g_random_int ());
  g_free (dir);
  return path;
}

/**
 * mp_listener_new:
 * @address: (nullable): where to listen (see #MpAddressFamily); %NULL for a new Unix socket
 *   in a private directory
 * @authkey: (nullable): the key every client must prove it knows, or %NULL for none
 * @error: return location for an error
 *
 * mp_listener_new_full() with the family inferred from @address and a backlog of 1, as in
 * Python's `Listener(address, authkey=authkey)`.
 *
 * Returns: (transfer full): the listener, or %NULL
 */
MpListener *
mp_listener_new (const char *address, GBytes *authkey, GError **error)
{
  return mp_listener_new_full (address, MP_ADDRESS_FAMILY_DEFAULT, 1, authkey, error);
}

/**
 * mp_listener_new_full:
 * @address: (nullable): where to listen; %NULL for an arbitrary address of @family (a Unix
 *   socket in a private 0700 directory, or 127.0.0.1 on a free port)
 * @family: the address family, or %MP_ADDRESS_FAMILY_DEFAULT to infer it
 * @backlog: the listen() backlog (at least 1 is used)
 * @authkey: (nullable): the key every client must prove it knows; %NULL for none. An empty key
 *   is a key: the handshake still runs.
 * @error: return location for an error
 *
 * Python's `Listener(address, family, backlog, authkey)`. Port 0 picks a free port;
 * mp_listener_get_address() tells which. An address in use (a listener is there, or a stale
 * socket file) is %MP_ERROR_IO saying so; Unix socket files are created mode 0600.
 *
 * Returns: (transfer full): the listener, or %NULL
 */
MpListener *
mp_listener_new_full (const char      *address,
                      MpAddressFamily  family,
                      int              backlog,
                      GBytes          *authkey,
                      GError         **error)
{
  g_autoptr(MpListener) self = NULL;
  g_autofree char *chosen = NULL;
  struct sockaddr_storage bound;
  socklen_t bound_len = sizeof bound;
  Address a;
  int fd, one = 1;

  if (address == NULL)
    {
      if (family == MP_ADDRESS_FAMILY_INET)
        address = "127.0.0.1:0";
      else
        {
          chosen = random_listener_path (error);
          if (chosen == NULL)
            return NULL;
          address = chosen;
          family = MP_ADDRESS_FAMILY_UNIX;
        }
    }
  if (!parse_address (address, family, TRUE, &a, error))
    {
      if (chosen)
        {
          g_autofree char *dir = g_path_get_dirname (chosen);
          rmdir (dir);
        }
      return NULL;
    }

  self = g_object_new (MP_TYPE_LISTENER, NULL);
  self->family = a.family;
  self->authkey = authkey ? g_bytes_ref (authkey) : NULL;
  self->creator_pid = getpid ();
  if (chosen)
    self->temp_dir = g_path_get_dirname (chosen);

  fd = socket (a.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot create a socket: %s", g_strerror (errsv));
      return NULL;
    }
  self->fd = fd;
  if (a.family == MP_ADDRESS_FAMILY_INET)
    (void) setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  else
    /* Linux gives the socket file the mode of the socket inode, so this closes the window
     * between bind() and the chmod() below. */
    (void) fchmod (fd, 0600);

  if (bind (fd, (struct sockaddr *) &a.addr, a.len) < 0)
    {
      int errsv = errno;
      if (errsv == EADDRINUSE)
        g_set_error (error, MP_ERROR, MP_ERROR_IO,
                     "Address already in use: %s (another listener is bound there%s)", address,
                     a.family == MP_ADDRESS_FAMILY_UNIX && address[0] != '@'
                       ? ", or a socket file was left behind" : "");
      else
        g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot bind to %s: %s", address,
                     g_strerror (errsv));
      return NULL;
    }
  if (a.family == MP_ADDRESS_FAMILY_UNIX && address[0] != '@')
    {
      self->unlink_path = g_strdup (address);
      (void) chmod (address, 0600);
    }
  if (listen (fd, MAX (backlog, 1)) < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot listen on %s: %s", address,
                   g_strerror (errsv));
      return NULL;
    }
  if (getsockname (fd, (struct sockaddr *) &bound, &bound_len) == 0 && bound_len > 0)
    self->address = format_address ((struct sockaddr *) &bound, bound_len);
  if (self->address == NULL || self->address[0] == '\0')
    {
      g_free (self->address);
      self->address = g_strdup (address);
    }

  {
    g_autofree char *label = g_strdup_printf ("Listener %s", self->address);
    self->object = _mp_arena_object_new (MP_OBJECT_LISTENER, label, &self->object_id);
    if (self->object)
      __atomic_store_n (&self->object->refs, 1, __ATOMIC_RELAXED);
  }
  return g_steal_pointer (&self);
}

/**
 * mp_listener_accept:
 * @self: an open listener
 * @error: return location for an error
 *
 * Python's `Listener.accept()`: waits for a client and, with an authkey, runs the handshake
 * (deliver, then answer) before returning the connection. A failed handshake is
 * %MP_ERROR_AUTHENTICATION and drops that client; the listener goes on. After close, or when
 * another thread closes the listener meanwhile, %MP_ERROR_CLOSED.
 *
 * Returns: (transfer full): the connection, or %NULL
 */
MpConnection *
mp_listener_accept (MpListener *self, GError **error)
{
  g_autoptr(MpConnection) conn = NULL;
  g_autofree char *peer = NULL;
  g_autofree char *label = NULL;
  struct sockaddr_storage addr;
  socklen_t len;
  pid_t peer_pid = 0;
  int fd, cfd;

  g_return_val_if_fail (MP_IS_LISTENER (self), NULL);

  for (;;)
    {
      fd = __atomic_load_n (&self->fd, __ATOMIC_ACQUIRE);
      if (fd < 0)
        {
          g_set_error_literal (error, MP_ERROR, MP_ERROR_CLOSED, "listener is closed");
          return NULL;
        }
      len = sizeof addr;
      cfd = accept4 (fd, (struct sockaddr *) &addr, &len, SOCK_CLOEXEC);
      if (cfd >= 0)
        break;
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (__atomic_load_n (&self->fd, __ATOMIC_ACQUIRE) < 0)
        continue;   /* closed by another thread: report it as closed */
      {
        int errsv = errno;
        g_set_error (error, MP_ERROR, MP_ERROR_IO, "accept() failed: %s", g_strerror (errsv));
        return NULL;
      }
    }

  peer = format_address ((struct sockaddr *) &addr, len);
  g_free (self->last_accepted);
  self->last_accepted = g_strdup (peer);
  if (self->family == MP_ADDRESS_FAMILY_UNIX)
    {
      struct ucred cred;
      socklen_t clen = sizeof cred;
      if (getsockopt (cfd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
        peer_pid = cred.pid;
    }
  label = g_strdup_printf ("Accepted %s", peer[0] ? peer : self->address);
  conn = _mp_connection_new_for_fd (cfd, TRUE, TRUE, label);
  _mp_connection_set_peer_pid (conn, peer_pid);
  if (self->object)
    __atomic_fetch_add (&MP_OBJECT_STATS (self->object, MpConnectionStats)->accepted, 1,
                        __ATOMIC_RELAXED);
  _mp_trace (MP_TRACE_NORMAL, MP_EVENT_CONNECTION_ACCEPTED, self->object_id, peer_pid,
             (gint64) conn->object_id);

  if (self->authkey != NULL &&
      (!mp_connection_deliver_challenge (conn, self->authkey, NULL, error) ||
       !mp_connection_answer_challenge (conn, self->authkey, error)))
    {
      if (self->object)
        __atomic_fetch_add (&MP_OBJECT_STATS (self->object, MpConnectionStats)->auth_failures, 1,
                            __ATOMIC_RELAXED);
      return NULL;
    }
  return g_steal_pointer (&conn);
}

/**
 * mp_listener_close:
 *
 * Closes the socket, wakes a thread blocked in mp_listener_accept(), removes the socket file
 * of a Unix path (and the private directory of a default address). Closing twice is fine.
 *
 * Returns: %FALSE with @error set if the socket file could not be removed
 */
gboolean
mp_listener_close (MpListener *self, GError **error)
{
  int fd;
  gboolean ok = TRUE;

  g_return_val_if_fail (MP_IS_LISTENER (self), FALSE);

  fd = __atomic_exchange_n (&self->fd, -1, __ATOMIC_ACQ_REL);
  if (fd < 0)
    return TRUE;
  (void) shutdown (fd, SHUT_RDWR);
  close (fd);
  /* A fork child that inherited the object does not own the socket file. */
  if (self->unlink_path && self->creator_pid == getpid () &&
      unlink (self->unlink_path) < 0 && errno != ENOENT)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot remove %s: %s", self->unlink_path,
                   g_strerror (errsv));
      ok = FALSE;
    }
  if (self->temp_dir && self->creator_pid == getpid ())
    rmdir (self->temp_dir);
  g_clear_pointer (&self->unlink_path, g_free);
  g_clear_pointer (&self->temp_dir, g_free);
  if (self->object && self->creator_pid == getpid ())
    _mp_arena_object_retire (self->object);
  self->object = NULL;
  return ok;
}

/**
 * mp_listener_get_address:
 *
 * Returns: the bound address in #MpAddressFamily notation, e.g. "127.0.0.1:43521" after
 *   port 0, "@name", or the socket path
 */
const char *
mp_listener_get_address (MpListener *self)
{
  g_return_val_if_fail (MP_IS_LISTENER (self), NULL);
  return self->address;
}

/**
 * mp_listener_get_family:
 *
 * Returns: %MP_ADDRESS_FAMILY_UNIX or %MP_ADDRESS_FAMILY_INET
 */
MpAddressFamily
mp_listener_get_family (MpListener *self)
{
  g_return_val_if_fail (MP_IS_LISTENER (self), MP_ADDRESS_FAMILY_DEFAULT);
  return self->family;
}

/**
 * mp_listener_get_last_accepted:
 *
 * Returns: (nullable): the address of the last client accepted ("" for an unnamed Unix
 *   socket, as in Python), or %NULL before the first
 */
const char *
mp_listener_get_last_accepted (MpListener *self)
{
  g_return_val_if_fail (MP_IS_LISTENER (self), NULL);
  return self->last_accepted;
}

/**
 * mp_listener_fileno:
 *
 * Returns: the listening socket (owned by @self), readable when a client waits; -1 with
 *   %MP_ERROR_CLOSED after close
 */
int
mp_listener_fileno (MpListener *self, GError **error)
{
  int fd;

  g_return_val_if_fail (MP_IS_LISTENER (self), -1);

  fd = __atomic_load_n (&self->fd, __ATOMIC_ACQUIRE);
  if (fd < 0)
    g_set_error_literal (error, MP_ERROR, MP_ERROR_CLOSED, "listener is closed");
  return fd;
}

/* ---- clients ------------------------------------------------------------------------------- */

/**
 * mp_client:
 * @address: the address of a listener (see #MpAddressFamily)
 * @authkey: (nullable): the listener's key, or %NULL when it has none
 * @error: return location for an error
 *
 * Python's `Client(address, authkey=authkey)`.
 *
 * Returns: (transfer full): the connection, or %NULL
 */
MpConnection *
mp_client (const char *address, GBytes *authkey, GError **error)
{
  return mp_client_full (address, MP_ADDRESS_FAMILY_DEFAULT, authkey, error);
}

/**
 * mp_client_full:
 * @address: the address of a listener
 * @family: its family, or %MP_ADDRESS_FAMILY_DEFAULT to infer it from @address
 * @authkey: (nullable): the listener's key, or %NULL when it has none
 * @error: return location for an error
 *
 * Python's `Client(address, family, authkey)`: connects and, with an authkey, answers the
 * listener's challenge and then challenges it (mutual authentication). A listener that is not
 * there is %MP_ERROR_IO; a wrong key on either side is %MP_ERROR_AUTHENTICATION.
 *
 * Returns: (transfer full): the connection, or %NULL
 */
MpConnection *
mp_client_full (const char *address, MpAddressFamily family, GBytes *authkey, GError **error)
{
  g_autoptr(MpConnection) conn = NULL;
  g_autofree char *label = NULL;
  Address a;
  int fd, r;

  g_return_val_if_fail (address != NULL, NULL);

  if (!parse_address (address, family, FALSE, &a, error))
    return NULL;
  fd = socket (a.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int errsv = errno;
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot create a socket: %s", g_strerror (errsv));
      return NULL;
    }
  r = connect (fd, (struct sockaddr *) &a.addr, a.len);
  if (r < 0 && errno == EINTR)
    {
      /* The connection goes on in the background; wait for its outcome. */
      struct pollfd pfd = { fd, POLLOUT, 0 };
      int err = 0;
      socklen_t elen = sizeof err;

      while (poll (&pfd, 1, -1) < 0 && errno == EINTR)
        ;
      r = getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0 && err == 0 ? 0 : -1;
      if (r < 0 && err != 0)
        errno = err;
    }
  if (r < 0)
    {
      int errsv = errno;
      close (fd);
      g_set_error (error, MP_ERROR, MP_ERROR_IO, "Cannot connect to %s: %s", address,
                   g_strerror (errsv));
      return NULL;
    }
  label = g_strdup_printf ("Client %s", address);
  conn = _mp_connection_new_for_fd (fd, TRUE, TRUE, label);
  if (a.family == MP_ADDRESS_FAMILY_UNIX)
    {
      struct ucred cred;
      socklen_t clen = sizeof cred;
      if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0)
        _mp_connection_set_peer_pid (conn, cred.pid);
    }
  if (authkey != NULL &&
      (!mp_connection_answer_challenge (conn, authkey, error) ||
       !mp_connection_deliver_challenge (conn, authkey, NULL, error)))
    return NULL;
  return g_steal_pointer (&conn);
}
