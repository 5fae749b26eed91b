import time, sys
from explorer.data.trees import arithmetic_trees, make_bank
from explorer.app.tree_train import *
cell, ops, units, ep = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
bank=make_bank(arithmetic_trees(2000, 0, max_ops=ops), "values")
data=TreeData.split(bank, 0.1)
t=time.time()
run=TreeRun(data, TreeSettings(cell=cell, units=units, epochs=ep, lr=0.01))
run.train()
print(cell, {k: round(v,3) for k,v in run.history[-1].items()}, time.time()-t)
t=time.time()
rows=sequence_baseline(data, units=units, epochs=ep)
print("seq", rows[-1], time.time()-t)
