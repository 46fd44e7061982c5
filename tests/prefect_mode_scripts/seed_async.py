"""The seed's async example, written against prefect (shorter sleeps)."""

import asyncio

from prefect import flow, task


@task
async def print_values(values):
    for value in values:
        await asyncio.sleep(0.05)  # yield
        print(value, end=" ")


@flow
async def async_flow():
    await print_values([1, 2])  # runs immediately
    coros = [print_values("abcd"), print_values("6789")]
    await asyncio.gather(*coros)


if __name__ == "__main__":
    asyncio.run(async_flow())
    print()
