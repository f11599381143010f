"""Local password login: how long Authenticate takes through the local directory's gRPC server,
for the right password, a wrong one, an unknown user and a user without a password, so that the
figures show whether the answer's timing tells them apart (it should not), and FindUsers by
contact address against a users file of N users.

    ./dev bench login                 # 200 attempts of each kind, 5,000 users
    ./dev bench login --attempts 50 --users 20000

Prints p50 / p99 per kind in milliseconds. Runs on a temporary users file; needs no database.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from oncall_hookspecs import UserQuery
from oncall_local_directory.directory import LocalDirectory
from oncall_local_directory.passwords import hash_password
from oncall_local_directory.users_file import LocalContactMethod, LocalUser, UsersFile, write


def _figures(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):7.2f} ms   p99 {p99:7.2f} ms   (n={len(ms)})"


async def main(attempts: int, n_users: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "users.yaml"
        users = [LocalUser(id=f"user-{i}", name=f"User {i}", email=f"user-{i}@example.com",
                           contact_methods=[LocalContactMethod(id="slack-1", type="slack", address=f"U{i:08d}")])
                 for i in range(n_users)]
        users[0].password_hash = hash_password("the right password")
        write(path, users)
        directory = LocalDirectory(UsersFile(path), "127.0.0.1:0", "bench-token", timeout_s=10)
        try:
            await directory.get_user("user-0")  # start the server, read the file
            kinds = {
                "right password": ("user-0", "the right password"),
                "wrong password": ("user-0", "a wrong password"),
                "unknown user": ("nobody", "the right password"),
                "user without a password": ("user-1", "the right password"),
            }
            print(f"Authenticate through the local directory ({n_users:,} users, argon2-cffi defaults)")
            by_kind: dict[str, list[float]] = {kind: [] for kind in kinds}
            for _ in range(attempts):  # interleaved, so that the machine's load drifts alike for each kind
                for kind, (user, password) in kinds.items():
                    start = time.perf_counter()
                    await directory.authenticate(user, password)
                    by_kind[kind].append(time.perf_counter() - start)
            for kind, samples in by_kind.items():
                print(f"  {kind:<24} {_figures(samples)}")
            samples = []
            for i in range(attempts):
                start = time.perf_counter()
                await directory.find_users(UserQuery.by_contact("slack", f"U{(i * 7919) % n_users:08d}"))
                samples.append(time.perf_counter() - start)
            print(f"FindUsers by contact address, one call   {_figures(samples)}")
        finally:
            await directory.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=200)
    parser.add_argument("--users", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(main(args.attempts, args.users))
