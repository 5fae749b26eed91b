import time, sys
from explorer.data.trees import arithmetic_trees, make_bank
from explorer.app.tree_train import *
n, ep, units = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
bank=make_bank(arithmetic_trees(n, 0), "values")
data=TreeData.split(bank, 0.2)
for cell in ("nary-treelstm","treelstm"):
    t=time.time()
    run=TreeRun(data, TreeSettings(cell=cell, units=units, epochs=ep, lr=0.01))
    run.train()
    print(cell, {k: round(v,3) for k,v in run.history[-1].items()}, round(time.time()-t,1))
t=time.time()
rows=sequence_baseline(data, units=units, epochs=ep)
print("seq", rows[-1], round(time.time()-t,1))
