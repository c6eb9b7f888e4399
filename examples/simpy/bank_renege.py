"""
Bank renege example

Covers:

- Resources: Resource
- Condition events

Scenario:
  A counter with a random service time and customers who renege. Based on the
  program bank08.py from TheBank tutorial of SimPy 2. (KGM)

From SimPy 4.1.2's documented examples (docs/examples/code/bank_renege.py),
Copyright (c) 2013 Ontje Lünsdorf and Stefan Scherfke, MIT License.
Changed for cothread's port (examples/bank_renege.rs): every random draw is
replaced by the next number of a fixed list, so that both print the same lines.
Run it with `python3 examples/simpy/bank_renege.py` (needs `pip install simpy`).
"""

import simpy

NEW_CUSTOMERS = 7  # Total number of customers
# Fixed inputs in place of the random draws, one a customer (seconds).
ARRIVAL_INTERVALS = [10.201, 2.526, 0.874, 22.273, 5.481, 1.307, 0.912]
PATIENCE = [1.634, 2.815, 2.179, 1.173, 2.952, 1.468, 1.409]
TIME_IN_BANK = [3.86, 4.113, 9.442, 2.961, 2.66, 2.787, 5.318]


def source(env, number, counter):
    """Source generates customers at the fixed intervals"""
    for i in range(number):
        c = customer(env, f'Customer{i:02d}', counter, i)
        env.process(c)
        t = ARRIVAL_INTERVALS[i]
        yield env.timeout(t)


def customer(env, name, counter, i):
    """Customer arrives, is served and leaves."""
    arrive = env.now
    print(f'{arrive:7.4f} {name}: Here I am')

    with counter.request() as req:
        patience = PATIENCE[i]
        # Wait for the counter or abort at the end of our tether
        results = yield req | env.timeout(patience)

        wait = env.now - arrive

        if req in results:
            # We got to the counter
            print(f'{env.now:7.4f} {name}: Waited {wait:6.3f}')

            tib = TIME_IN_BANK[i]
            yield env.timeout(tib)
            print(f'{env.now:7.4f} {name}: Finished')

        else:
            # We reneged
            print(f'{env.now:7.4f} {name}: RENEGED after {wait:6.3f}')


# Setup and start the simulation
print('Bank renege')
env = simpy.Environment()

# Start processes and run
counter = simpy.Resource(env, capacity=1)
env.process(source(env, NEW_CUSTOMERS, counter))
env.run()
