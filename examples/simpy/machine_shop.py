"""
Machine shop example

Covers:

- Interrupts
- Resources: PreemptiveResource

Scenario:
  A workshop has *n* identical machines. A stream of jobs (enough to
  keep the machines busy) arrives. Each machine breaks down
  periodically. Repairs are carried out by one repairman. The repairman
  has other, less important tasks to perform, too. Broken machines
  preempt these tasks. The repairman continues them when he is done
  with the machine repair. The workshop works continuously.

From SimPy 4.1.2's documented examples (docs/examples/code/machine_shop.py),
Copyright (c) 2013 Ontje Lünsdorf and Stefan Scherfke, MIT License.
Changed for cothread's port (examples/machine_shop.rs): every random draw is
replaced by the next number of a fixed list (taken round again when it runs
out), so that both print the same lines: machine *i* takes its processing
times from PROCESSING_TIMES starting at the *i*-th, and its times to failure
from its own row of TIMES_TO_FAILURE.
Run it with `python3 examples/simpy/machine_shop.py` (needs `pip install simpy`).
"""

import simpy

# fmt: off
REPAIR_TIME = 30.0     # Time it takes to repair a machine in minutes
JOB_DURATION = 30.0    # Duration of other jobs in minutes
NUM_MACHINES = 10      # Number of machines in the machine shop
WEEKS = 4              # Simulation time in weeks
SIM_TIME = WEEKS * 7 * 24 * 60  # Simulation time in minutes
# Fixed inputs in place of the random draws (minutes): processing times of a
# part (mean 10, sigma 2), and times to failure (mean about 300), a row a
# machine.
PROCESSING_TIMES = [
    12.8255, 10.1437, 9.1515, 8.8916, 9.1909, 8.0042, 8.4951, 7.7695, 8.5654, 11.7758,
    11.4525, 10.7748, 7.9843, 13.9988, 9.563, 10.4841, 9.6999, 7.4904, 10.0004, 11.7745,
]
TIMES_TO_FAILURE = [
    [75.787, 296.202, 885.279, 258.188, 151.592],
    [256.293, 223.456, 624.163, 392.184, 101.877],
    [624.981, 112.953, 356.524, 270.694, 260.175],
    [529.574, 52.82, 7.01, 904.692, 225.397],
    [47.559, 235.035, 8.224, 225.302, 1151.928],
    [443.441, 228.166, 452.952, 119.993, 75.711],
    [8.513, 98.309, 89.997, 353.805, 940.602],
    [195.045, 58.995, 466.962, 121.272, 484.069],
    [55.9, 40.759, 49.162, 705.697, 492.746],
    [238.66, 42.118, 4.304, 1061.004, 314.668],
]
# fmt: on


class Machine:
    """A machine produces parts and my get broken every now and then.

    If it breaks, it requests a *repairman* and continues the production
    after the it is repaired.

    A machine has a *name* and a number of *parts_made* thus far.

    """

    def __init__(self, env, i, repairman):
        self.env = env
        self.name = f'Machine {i}'
        self.parts_made = 0
        self.broken = False
        self.index = i
        self.parts_drawn = 0
        self.failures_drawn = 0

        # Start "working" and "break_machine" processes for this machine.
        self.process = env.process(self.working(repairman))
        env.process(self.break_machine())

    def time_per_part(self):
        """Return actual processing time for a concrete part."""
        k = self.index + self.parts_drawn
        self.parts_drawn += 1
        return PROCESSING_TIMES[k % len(PROCESSING_TIMES)]

    def time_to_failure(self):
        """Return time until next failure for this machine."""
        row = TIMES_TO_FAILURE[self.index]
        k = self.failures_drawn
        self.failures_drawn += 1
        return row[k % len(row)]

    def working(self, repairman):
        """Produce parts as long as the simulation runs.

        While making a part, the machine may break multiple times.
        Request a repairman when this happens.

        """
        while True:
            # Start making a new part
            done_in = self.time_per_part()
            while done_in:
                start = self.env.now
                try:
                    # Working on the part
                    yield self.env.timeout(done_in)
                    done_in = 0  # Set to 0 to exit while loop.

                except simpy.Interrupt:
                    self.broken = True
                    done_in -= self.env.now - start  # How much time left?

                    # Request a repairman. This will preempt its "other_job".
                    with repairman.request(priority=1) as req:
                        yield req
                        yield self.env.timeout(REPAIR_TIME)

                    self.broken = False

            # Part is done.
            self.parts_made += 1

    def break_machine(self):
        """Break the machine every now and then."""
        while True:
            yield self.env.timeout(self.time_to_failure())
            if not self.broken:
                # Only break the machine if it is currently working.
                self.process.interrupt()


def other_jobs(env, repairman):
    """The repairman's other (unimportant) job."""
    while True:
        # Start a new job
        done_in = JOB_DURATION
        while done_in:
            # Retry the job until it is done.
            # Its priority is lower than that of machine repairs.
            with repairman.request(priority=2) as req:
                yield req
                start = env.now
                try:
                    yield env.timeout(done_in)
                    done_in = 0
                except simpy.Interrupt:
                    done_in -= env.now - start


# Setup and start the simulation
print('Machine shop')

# Create an environment and start the setup process
env = simpy.Environment()
repairman = simpy.PreemptiveResource(env, capacity=1)
machines = [Machine(env, i, repairman) for i in range(NUM_MACHINES)]
env.process(other_jobs(env, repairman))

# Execute!
env.run(until=SIM_TIME)

# Analysis/results
print(f'Machine shop results after {WEEKS} weeks')
for machine in machines:
    print(f'{machine.name} made {machine.parts_made} parts.')
